"""What devloop's REST, admin and Socket.IO parts share: the store, auth policy, fault books and logs."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Sequence

from .auth import AuthPolicy
from .faults import HttpFault, RequestLog, RuleBook, SocketFault
from .seed import SeedHook, apply_seed
from .store import Store


@dataclass
class DevLoopContext:
    store: Store
    auth: AuthPolicy
    seed: str = 'demo'
    seed_hooks: Sequence[SeedHook] = ()
    faults: RuleBook[HttpFault] = field(default_factory=RuleBook)
    socket_faults: RuleBook[SocketFault] = field(default_factory=RuleBook)
    requests: RequestLog = field(default_factory=RequestLog)
    stop: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Back to the seeded state: drop every record, file, rule and logged request."""
        self.store.wipe()
        apply_seed(self.store, self.seed, self.seed_hooks)
        self.faults.clear()
        self.socket_faults.clear()
        self.requests.clear()
