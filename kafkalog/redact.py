"""Redaction: secrets and personal data taken out of a record on the application's thread, before it is encoded,
queued, spooled or shipped, so that nothing redacted reaches memory queues, disk or Kafka.

``redact="secrets"``, ``redact=["secrets", "pii"]``, or ``redact=Redact("secrets", keys=["ssn"],
patterns={"order_token": r"ord_[0-9a-f]{24}"})``. Keys are matched case-insensitively at any depth of ``fields``
and among the record's top-level keys (their whole value is replaced); patterns are applied to the message, to
every string in ``fields`` and to the exception's message and stack. The replacement names what was removed:
``[redacted:card]``, ``[redacted:key]``. All patterns are compiled into one alternation, searched once per string:
a string with nothing to remove costs one regex scan and no copy.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._redaction_presets import MIN_MATCH, PRESETS, Check
from .errors import ConfigError, ConfigTypeError
from .typing import Event

__all__ = ["PRESET_NAMES", "Redact", "Redactor", "redactor_for"]

PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
KEY_REPLACEMENT = "[redacted:key]"
ERROR_REPLACEMENT = "[redacted:error]"
_NOTHING = object()
_MAX_DEPTH = 24
_KEY_CACHE_MAX = 4096
_BASE_KEYS = 12
"""Every event the record builders make has 12 keys of the contract (type ... line): with no more keys, the
quick subset test tells that it has no other."""
_CONTRACT_KEYS = frozenset({"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid",
                            "thread", "file", "line", "exception", "truncated", "trace_id", "span_id",
                            "trace_flags"})


class Redact:
    """What to remove: named ``presets`` (``"secrets"``, ``"pii"``), extra ``keys`` (names matched
    case-insensitively, ``-`` read as ``_``) and ``patterns`` (name -> regex; the name goes into the replacement)."""

    __slots__ = ("keys", "patterns", "presets")

    def __init__(self, *presets: str, keys: Iterable[str] = (), patterns: Mapping[str, str] | None = None) -> None:
        self.presets = tuple(presets)
        self.keys = tuple(keys) if not isinstance(keys, str) else (keys,)
        self.patterns = dict(patterns or {})

    def __repr__(self) -> str:
        return f"Redact(presets={list(self.presets)}, keys={list(self.keys)}, patterns={sorted(self.patterns)})"


def _as_redact(value: object) -> Redact:
    if isinstance(value, Redact):
        return value
    if isinstance(value, str):
        return Redact(value)
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - {"presets", "keys", "patterns"})
        if unknown:
            raise ConfigError(f"redact: unknown key(s) {unknown}; allowed are 'presets', 'keys', 'patterns'")
        presets = value.get("presets", ())
        return Redact(*([presets] if isinstance(presets, str) else presets), keys=value.get("keys", ()),
                      patterns=value.get("patterns"))
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return Redact(*value)
    raise ConfigTypeError(f"redact: expected a preset name {list(PRESET_NAMES)}, a list of them, a mapping with "
                          f"'presets'/'keys'/'patterns', or a Redact(...), got {type(value).__name__}")


def redactor_for(value: object) -> Redactor | None:
    """The checked redactor for the ``redact`` option (None: nothing to redact). Raises naming what is wrong."""
    if value is None:
        return None
    spec = _as_redact(value)
    words: list[str] = []
    patterns: list[tuple[str, str, Check | None]] = []
    needles: list[str] = []
    digits = False
    for name in spec.presets:
        if name not in PRESETS:
            raise ConfigError(f"redact: unknown preset {name!r}; the presets are {list(PRESET_NAMES)}")
        preset_keys, preset_patterns, preset_needles, preset_digits = PRESETS[name]
        words.extend(preset_keys)
        patterns.extend(preset_patterns)
        needles.extend(preset_needles)
        digits = digits or preset_digits
    for key in spec.keys:
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"redact: keys must be non-empty strings, got {key!r}")
        words.append(_normal(key.strip()))
    for name, regex in spec.patterns.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
            raise ConfigError(f"redact: pattern name {name!r} must be 1-40 of a-z A-Z 0-9 _ . -")
        if not isinstance(regex, str):
            raise ConfigTypeError(f"redact: pattern {name!r}: expected a regex string, got {type(regex).__name__}")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"redact: pattern {name!r} is not a valid regular expression: {exc}") from None
        if compiled.match(""):
            raise ConfigError(f"redact: pattern {name!r} matches the empty string")
        patterns.append((name, regex, None))
    if not words and not patterns:
        raise ConfigError("redact: names nothing to redact; give presets, keys or patterns (or None)")
    # a pattern of the user's own may match anything: then every string is searched
    prefilter = None if spec.patterns else (tuple(dict.fromkeys(needles)), digits)
    return Redactor(words, patterns, prefilter)


def _normal(key: str) -> str:
    return key.lower().replace("-", "_")


class Redactor:
    """Applies one :class:`Redact` to events; counts records changed and values it could not read."""

    def __init__(self, words: Iterable[str], patterns: Sequence[tuple[str, str, Check | None]],
                 prefilter: tuple[tuple[str, ...], bool] | None = None) -> None:
        """``prefilter``: (needles, digits): only strings that contain a needle, lower-cased (or a run of 4 digits,
        if ``digits``), can match any of ``patterns``, and only they are searched. None: every string is."""
        self._needles: Callable[[str], Any] | None = None
        if prefilter is not None:  # one search of the lower-cased text for any needle: one C call, not one each
            needles = [re.escape(n) for n in sorted(prefilter[0], key=len, reverse=True)]
            self._needles = re.compile("|".join(needles + ([r"\d{4}"] if prefilter[1] else []))).search
        self._min_length = MIN_MATCH if prefilter is not None else 1
        unique = sorted(set(words))
        self._key_re = re.compile("(?:^|_)(?:" + "|".join(map(re.escape, unique)) + ")$") if unique else None
        self._key_cache: dict[str, bool] = {}
        self._clean_top: dict[str, Any] = {}  # top-level key -> the value object last found clean
        self._rules: dict[str, tuple[str, Check | None, str | None]] = {}
        parts = []
        for index, (name, regex, check) in enumerate(patterns):
            keep = f"_k{index}" if "(?P<keep>" in regex else None
            own = regex.replace("(?P<keep>", f"(?P<{keep}>") if keep is not None else regex
            parts.append(f"(?P<_r{index}>{own})")
            self._rules[f"_r{index}"] = (f"[redacted:{name}]", check, keep)
        combined = re.compile("|".join(parts)) if parts else None
        self._search: Callable[[str], Any] | None = combined.search if combined else None
        self._sub: Callable[..., str] | None = combined.sub if combined else None
        self._lock = threading.Lock()
        self.redacted = 0
        self.failed = 0

    def _replace(self, match: re.Match[str]) -> str:
        replacement, check, keep = self._rules[match.lastgroup or ""]
        if check is not None and not check(match.group()):
            return match.group()
        return replacement if keep is None else match.group(keep) + replacement

    def _secret_key(self, key: str) -> bool:
        known = self._key_cache.get(key)
        if known is None:
            known = self._key_re is not None and self._key_re.search(_normal(key)) is not None
            if len(self._key_cache) < _KEY_CACHE_MAX:
                self._key_cache[key] = known
        return known

    def text(self, text: str) -> str:
        """``text`` with every pattern's match replaced (the same object when nothing matched)."""
        search = self._search
        if search is None or len(text) < self._min_length:
            return text
        needles = self._needles
        if needles is not None and needles(text.lower()) is None:
            return text
        if search(text) is None:
            return text
        assert self._sub is not None
        redacted = self._sub(self._replace, text)
        return text if redacted == text else redacted  # matches a check turned down (not a card): no change

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        if depth > _MAX_DEPTH:
            return ERROR_REPLACEMENT
        if isinstance(value, dict):
            return self._dict(value, depth + 1, False)
        if isinstance(value, (list, tuple)):
            items = [self._value(v, depth + 1) for v in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        try:  # any other object is encoded as its text: look at that text
            text = str(value)
        except Exception:
            self._count_failure()
            return ERROR_REPLACEMENT
        redacted = self.text(text)
        return value if redacted is text else redacted

    def _dict(self, mapping: dict[Any, Any], depth: int, in_place: bool) -> dict[Any, Any]:
        out: dict[Any, Any] | None = None
        cache, shortest, text = self._key_cache, self._min_length, self.text
        for key, value in mapping.items():
            secret = cache.get(key)
            if secret is None:
                secret = isinstance(key, str) and self._secret_key(key)
            if secret:
                new: Any = KEY_REPLACEMENT
            elif type(value) is str:  # the common case first, without a call when too short to match
                if len(value) < shortest:
                    continue
                new = text(value)
            elif value is None or isinstance(value, (int, float)):
                continue
            else:
                try:
                    new = self._value(value, depth)
                except Exception:  # e.g. a broken __eq__ deep down: the value goes, the record stays
                    self._count_failure()
                    new = ERROR_REPLACEMENT
            if new is not value:
                if out is None:
                    out = mapping if in_place else dict(mapping)
                out[key] = new
        return mapping if out is None else out

    def event(self, event: Event) -> Event:
        """Redact ``event`` (a dict the caller owns: changed in place; nested containers are copied, never
        changed, as they may be the application's own objects). Never raises: if redaction fails, the message,
        fields and exception are replaced (and counted), and the record is still shipped."""
        try:
            changed = False
            keys = event.keys()
            if len(keys) != _BASE_KEYS or not keys <= _CONTRACT_KEYS:  # static fields, a formatter hook's keys
                clean = self._clean_top
                for key in keys - _CONTRACT_KEYS:
                    value = event[key]
                    if isinstance(key, str) and self._secret_key(key):
                        event[key] = KEY_REPLACEMENT
                        changed = True
                    elif clean.get(key, _NOTHING) is not value:  # a static field's value is the same object
                        new_value = self._value(value, 0)
                        if new_value is not value:
                            event[key] = new_value
                            changed = True
                        elif len(clean) < _KEY_CACHE_MAX:
                            clean[key] = value
            msg = event.get("msg")
            if type(msg) is str and len(msg) >= self._min_length:
                new_msg = self.text(msg)
                if new_msg is not msg:
                    event["msg"] = new_msg
                    changed = True
            for key in ("fields", "exception"):  # dicts the caller may share: copied where changed
                nested = event.get(key)
                if nested and isinstance(nested, dict):
                    new_nested = self._dict(nested, 0, False)
                    if new_nested is not nested:
                        event[key] = new_nested
                        changed = True
        except Exception:
            self._count_failure()
            for key in ("msg", "fields", "exception"):
                if key in event:
                    event[key] = ERROR_REPLACEMENT
            return event
        if changed:
            self._count_redacted()
        return event

    def safe_text(self, text: str) -> str:
        """:meth:`text` for a whole record's text (a custom formatter's), never raising."""
        try:
            redacted = self.text(text)
        except Exception:
            self._count_failure()
            return ERROR_REPLACEMENT
        if redacted is not text:
            self._count_redacted()
        return redacted

    def _count_redacted(self) -> None:
        with self._lock:
            self.redacted += 1

    def _count_failure(self) -> None:
        with self._lock:
            self.failed += 1
