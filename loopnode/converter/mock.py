"""MockConverterLogic (annotator-converter.md §B4): `mocked` → `mocked_converted`, for tests and demos."""
from __future__ import annotations

import os

from ..data import ModelInformation
from .logic import ConverterLogic

CONVERTED_FILE = 'converted_weightfile.converted'


class MockConverterLogic(ConverterLogic):
    """`_convert` waits 1 s (ended early by the cancel token) and writes `converted_weightfile.converted`.

    `MockConverterLogic('format_a', 'format_b')` converts other formats the same way (the upstream README's
    "Test operability" check; see `format_a_to_format_b`).
    """

    def __init__(self, source_format: str = 'mocked', target_format: str = 'mocked_converted',
                 duration: float = 1.0) -> None:
        super().__init__(source_format, target_format)
        self.duration = duration

    def _convert(self, model_information: ModelInformation) -> None:
        if self.cancel_token.wait(self.duration):
            return
        assert self.model_folder is not None
        with open(os.path.join(self.model_folder, CONVERTED_FILE), 'w', encoding='utf-8') as f:
            f.write(f'{model_information.id} converted from {self.source_format} to {self.target_format}\n')

    def get_converted_files(self, model_id: str) -> list[str]:
        assert self.model_folder is not None
        return [os.path.join(self.model_folder, CONVERTED_FILE)]


def format_a_to_format_b() -> MockConverterLogic:
    """The mock converting `format_a` → `format_b`: `loopnode converter --logic loopnode.converter.mock:format_a_to_format_b`."""
    return MockConverterLogic('format_a', 'format_b')
