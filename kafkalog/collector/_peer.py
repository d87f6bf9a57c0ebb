"""Who is on the other end of a Unix socket: the peer's credentials from the kernel, and the check of them."""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # pid, uid, gid (struct ucred)


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer | None:
    """The connecting process's pid, uid and gid (SO_PEERCRED); None where the platform does not give them."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size))
    except OSError:
        return None
    return Peer(pid, uid, gid)


def supplementary_groups(pid: int) -> frozenset[int]:
    """The groups of process ``pid`` (Linux /proc); empty when they cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Groups:"):
                    return frozenset(int(g) for g in line.split()[1:])
    except (OSError, ValueError):
        pass
    return frozenset()


def allowed(peer: Peer, *, owner_uid: int | None = None, groups: frozenset[int] = frozenset()) -> bool:
    """Same user as the collector, root, or a member of one of ``groups``."""
    owner = os.geteuid() if owner_uid is None else owner_uid
    if peer.uid in (owner, 0):
        return True
    if not groups:
        return False
    return peer.gid in groups or bool(groups & supplementary_groups(peer.pid))
