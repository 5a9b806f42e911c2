"""Pagination of the image grid (pure): which slice a page shows and which page links the pager offers."""
from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """Page `number` (1-based) of `total` items, `size` per page."""
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    @property
    def stop(self) -> int:
        return min(self.total, self.start + self.size)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    def links(self, around: int = 3) -> list[int | None]:
        """Page numbers for the pager: first, last and `around` either side of this one; None marks a gap."""
        wanted = {1, self.pages, *range(self.number - around, self.number + around + 1)}
        numbers = sorted(n for n in wanted if 1 <= n <= self.pages)
        result: list[int | None] = []
        for n in numbers:
            if result and n - (result[-1] or 0) > 1:
                result.append(None)
            result.append(n)
        return result


def parse_page_number(raw: str | None) -> int:
    """The `?page=` value: a positive int, anything else is page 1."""
    try:
        number = int(raw or '1')
    except ValueError:
        return 1
    return max(1, number)


def page_of(total: int, number: int, size: int = PAGE_SIZE) -> Page:
    """Page `number` clamped to the pages that exist."""
    page = Page(1, size, max(0, total))
    return Page(min(max(1, number), page.pages), size, page.total)
