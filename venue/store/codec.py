"""Commands ↔ bytes for the journal: deterministic, versioned, generic over registered types.

A record is the JSON array ``[VERSION, tag, field1, field2, …]`` (orjson), with the fields in
the dataclass's declaration order. Values are encoded as:

- ``int``/``str``/``bool``/``None`` as themselves; ints outside the signed 64-bit range (which
  orjson cannot write, and would read back as a float) as their decimal text;
- enums by value (``OrderType.EXCHANGE_LIMIT`` → ``"EXCHANGE LIMIT"``);
- tuples as arrays; nested registered dataclasses (``MultiOp.ops``) as ``[tag, field…]``
  without the version;
- dicts (``meta``) as objects with sorted keys, so equal commands give equal bytes.

Decoding is driven by the dataclass's type hints (``typing.get_type_hints``): an ``int`` field
turns decimal text back into an int, an enum field calls the enum, a ``tuple[X, ...]`` field
rebuilds a tuple. A record with fewer fields than the class (written before an optional field was
added at the end, the contract's only allowed change) takes the defaults; more fields, an unknown
tag or an unknown version is a ``CodecError``.

Speed (every command is encoded on the event loop, every record decoded on replay): classes
without nested commands encode in one ``orjson.dumps`` call over the field tuple (orjson writes
enums by value and tuples as arrays exactly like the generic path; with strict integers it
raises on ints beyond 53 bits, and the generic path takes over); decoding runs one function
compiled per class that checks the common field types inline (bench/RESULTS-journal.md).

Invariants: ``decode(encode(c)) == c`` for every registered command (meta included: it is
compared explicitly in tests since dataclass equality skips it), and ``encode`` is a pure function
of the command's value. One documented exception: an int beyond 64 bits *inside* ``meta``
(untyped) comes back as its decimal text.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from typing import Any, Callable, Iterable

import orjson

from venue.core.commands import COMMAND_TYPES
from venue.core.preferences import PREFERENCE_COMMAND_TYPES

VERSION = 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SCALARS = (str, bool, type(None))
_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS
# The one-call path must hand every int orjson would write differently from the generic path to
# that path: orjson writes 2**63 … 2**64-1 as bare numbers (the generic path: as text). Strict
# integers make it raise beyond 53 bits; such values are rare and take the generic path.
_FAST_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class CodecError(ValueError):
    """A record that cannot be turned back into a command (corrupt, unknown, or from the future)."""


Decoder = Callable[[Any], Any]


class Codec:
    """Encodes and decodes instances of the registered frozen dataclasses."""

    def __init__(self, types_: Iterable[type] = ()) -> None:
        self._by_tag: dict[str, type] = {}
        self._tag_of: dict[type, str] = {}
        self._fields: dict[type, tuple[str, ...]] = {}
        self._decoders: dict[type, _ClassDecoder] = {}
        self._fast: dict[type, tuple[tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]] = {}
        for cls in types_:
            self.register(cls)

    # -- registry ---------------------------------------------------------------------------

    def register(self, cls: type, tag: str | None = None) -> type:
        """Make ``cls`` (a dataclass) encodable under ``tag`` (default: its class name)."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        tag = tag or cls.__name__
        known = self._by_tag.get(tag)
        if known is not None and known is not cls:
            raise ValueError(f"codec tag {tag!r} already names {known!r}")
        self._by_tag[tag] = cls
        self._tag_of[cls] = tag
        self._fields[cls] = tuple(f.name for f in dataclasses.fields(cls))
        # built lazily: hints may name types registered later
        self._decoders.clear()
        self._fast.clear()
        self._fast_ready = False
        return cls

    def _prepare_fast(self) -> None:
        """Classes with no nested command field encode in one orjson call (see ``encode``)."""
        for cls, names in self._fields.items():
            hints = typing.get_type_hints(cls)
            if any(self._mentions_command(hints.get(name, Any)) for name in names):
                continue
            getter = _attrgetter(names)
            self._fast[cls] = ((VERSION, self._tag_of[cls]), getter)
        self._fast_ready = True

    def _mentions_command(self, hint: Any) -> bool:
        if isinstance(hint, type) and hint in self._tag_of:
            return True
        return any(self._mentions_command(arg) for arg in typing.get_args(hint))

    @property
    def types(self) -> tuple[type, ...]:
        return tuple(self._tag_of)

    # -- encode -----------------------------------------------------------------------------

    def encode(self, command: Any) -> bytes:
        """The record bytes of one command."""
        if not self._fast_ready:
            self._prepare_fast()
        fast = self._fast.get(type(command))
        if fast is not None:
            # orjson writes enums by value, tuples as arrays and sorts dict keys exactly as the
            # generic path below does; it raises only for what needs that path (ints beyond
            # 53 bits, odd dict keys) or cannot be encoded at all.
            head, getter = fast
            try:
                return orjson.dumps(head + getter(command), option=_FAST_DUMPS_OPTIONS)
            except TypeError:
                pass
        body = self._encode_object(command)
        body.insert(0, VERSION)
        return orjson.dumps(body, option=_DUMPS_OPTIONS)

    def _encode_object(self, obj: Any) -> list[Any]:
        cls = type(obj)
        tag = self._tag_of.get(cls)
        if tag is None:
            raise CodecError(f"{cls.__name__} is not a registered command type")
        out: list[Any] = [tag]
        for name in self._fields[cls]:
            out.append(self._encode_value(getattr(obj, name)))
        return out

    def _encode_value(self, value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, str) and not isinstance(value, enum.Enum):
            return str(value)
        if isinstance(value, enum.Enum):
            return value.value
        if kind is tuple or kind is list:
            return [self._encode_value(item) for item in value]
        if kind is dict:
            return {str(key): self._encode_value(item) for key, item in value.items()}
        if kind in self._tag_of:
            return self._encode_object(value)
        if isinstance(value, (int, float)):  # IntFlag members, floats inside meta
            return int(value) if isinstance(value, int) else value
        raise CodecError(f"cannot encode {kind.__name__} value {value!r}")

    # -- decode -----------------------------------------------------------------------------

    def decode(self, data: bytes | bytearray | memoryview | str) -> Any:
        """The command of one record; ``CodecError`` for anything malformed."""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"record is not JSON: {exc}") from None
        if not isinstance(body, list) or len(body) < 2:
            raise CodecError("record is not [version, tag, …]")
        if body[0] != VERSION:
            raise CodecError(f"unknown record version {body[0]!r}")
        return self._decode_object(body[1:])

    def _decode_object(self, body: Any) -> Any:
        if type(body) is not list or not body or type(body[0]) is not str:
            raise CodecError("object is not [tag, …]")
        cls = self._by_tag.get(body[0])
        if cls is None:
            raise CodecError(f"unknown command tag {body[0]!r}")
        decoder = self._decoders.get(cls) or self._build_decoder(cls)
        values = body[1:]
        count = len(values)
        if count != decoder.size:
            if count > decoder.size:
                raise CodecError(f"{body[0]} record has {count} fields, the type {decoder.size}")
            if count < decoder.required:
                raise CodecError(f"{body[0]} record lacks required fields")
            values.extend(decoder.defaults[count:])  # written before fields were added
        try:
            return decoder.build(values)
        except CodecError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise CodecError(f"{body[0]}: {exc!r}") from None

    def _build_decoder(self, cls: type) -> _ClassDecoder:
        """Compile one function that checks and converts every field of ``cls`` inline.

        Replay decodes every journal record, so the common field types (int, str, bool and
        their optionals) are checked with inline ``type(x) is …`` tests instead of a function
        call per field; other fields call their decoder."""
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        namespace: dict[str, Any] = {"_cls": cls, "_int": _decode_int, "_bad": _bad_type}
        names = [f"a{i}" for i in range(len(fields))]
        lines = [f"def build(values):"]
        if names:
            lines.append(f"    {', '.join(names)}, = values")
        defaults: list[Any] = []
        required = 0
        for index, f in enumerate(fields):
            var = names[index]
            lines.extend(self._check_lines(var, hints.get(f.name, Any), namespace))
            if f.default is not dataclasses.MISSING:
                defaults.append(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                defaults.append(f.default_factory())
            else:
                defaults.append(None)
                required = index + 1
        lines.append(f"    return _cls({', '.join(names)})")
        exec("\n".join(lines), namespace)  # noqa: S102 - source built above from field names
        decoder = _ClassDecoder(len(fields), required, tuple(defaults), namespace["build"])
        self._decoders[cls] = decoder
        return decoder

    def _check_lines(self, var: str, hint: Any, namespace: dict[str, Any]) -> list[str]:
        """Source lines that check/convert local ``var`` holding a field typed ``hint``."""
        optional = False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = typing.get_args(hint)
            members = [a for a in args if a is not type(None)]
            if len(members) == 1 and len(args) == 2:
                optional, hint = True, members[0]
        guard = f"{var} is not None and " if optional else ""
        if hint is int:
            return [f"    if {guard}type({var}) is not int: {var} = _int({var})"]
        if hint in (str, bool):
            kind = hint.__name__
            return [f"    if {guard}type({var}) is not {kind}: _bad({var}, {kind!r})"]
        decode = self._decoder_for(hint)
        if decode is _identity:
            return []
        namespace[f"_f_{var}"] = decode
        if optional:
            return [f"    if {var} is not None: {var} = _f_{var}({var})"]
        return [f"    {var} = _f_{var}({var})"]

    def _decoder_for(self, hint: Any) -> Decoder:
        """A function turning the JSON value of a field typed ``hint`` back into its value."""
        if hint is Any:
            return _identity
        if hint is int:
            return _decode_int
        if hint is str:
            return _STR
        if hint is bool:
            return _expect(bool)
        if hint is type(None):
            return _expect(type(None))
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            members = hint._value2member_map_  # a dict lookup: much faster than calling the enum
            return lambda value: members[value]
        if isinstance(hint, type) and hint in self._tag_of:
            return self._decode_object
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Union or origin is types.UnionType:
            return self._union_decoder(args)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                item = self._decoder_for(args[0])
                return lambda value: tuple(item(v) for v in _expect(list)(value))
            items = [self._decoder_for(a) for a in args]
            return lambda value: _fixed_tuple(items, value)
        # dict[...] (meta) and anything else: JSON value as it was written
        return _identity

    def _union_decoder(self, args: tuple[Any, ...]) -> Decoder:
        optional = type(None) in args
        members = [a for a in args if a is not type(None)]
        if all(isinstance(a, type) and a in self._tag_of for a in members):
            inner: Decoder = self._decode_object  # a union of commands: the tag says which
        elif len(members) == 1:
            inner = self._decoder_for(members[0])
        else:
            inner = _identity
        if not optional:
            return inner
        return lambda value: None if value is None else inner(value)


def _identity(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class _ClassDecoder:
    size: int  # number of fields
    required: int  # a record must hold at least this many (the rest have defaults)
    defaults: tuple[Any, ...]
    build: Callable[[list[Any]], Any]  # checks the field values and makes the instance


def _attrgetter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        return lambda obj: (get(obj),)
    return operator.attrgetter(*names)


def _decode_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value.lstrip("-").isdigit():
        return int(value)  # written as text: outside the 64-bit range
    raise CodecError(f"expected an int, got {value!r}")


def _expect(kind: type) -> Decoder:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise CodecError(f"expected {kind.__name__}, got {value!r}")
        return value

    return check


def _bad_type(value: Any, kind: str) -> None:
    raise CodecError(f"expected {kind}, got {value!r}")


def _check_str(value: Any) -> str:
    if type(value) is not str:
        raise CodecError(f"expected str, got {value!r}")
    return value


_STR: Decoder = _check_str


def _fixed_tuple(items: list[Decoder], value: Any) -> tuple[Any, ...]:
    if type(value) is not list or len(value) != len(items):
        raise CodecError(f"expected an array of {len(items)}, got {value!r}")
    return tuple(decode(v) for decode, v in zip(items, value))


#: The codec the journal uses: every core command and every preference command.
DEFAULT_CODEC = Codec((*COMMAND_TYPES, *PREFERENCE_COMMAND_TYPES))


def encode(command: Any) -> bytes:
    return DEFAULT_CODEC.encode(command)


def decode(data: bytes | bytearray | memoryview | str) -> Any:
    return DEFAULT_CODEC.decode(data)


def register(cls: type, tag: str | None = None) -> type:
    """Register another command type with the default codec (usable as a class decorator)."""
    return DEFAULT_CODEC.register(cls, tag)
