"""Durable state behind one interface (:mod:`tether.store.base`), one package per backend."""

from tether.store.base import (
    Change,
    InstanceFilter,
    InstanceRow,
    Lease,
    MessageRow,
    NodeRow,
    Reader,
    Store,
    TaskRow,
    Tx,
)
from tether.store.factory import open_store

__all__ = [
    "Change",
    "InstanceFilter",
    "InstanceRow",
    "Lease",
    "MessageRow",
    "NodeRow",
    "Reader",
    "Store",
    "TaskRow",
    "Tx",
    "open_store",
]
