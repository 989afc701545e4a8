"""AMI frames: splitting a byte stream anywhere, parsing, and surviving garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.events import AmiMessage, FrameSplitter, MalformedFrame, parse_message

pytestmark = pytest.mark.pure

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN = b"Response: Success\r\nActionID: capture-login\r\nMessage: Authentication accepted\r\n\r\n"
NEWCHANNEL = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/201@agents-00000001;1\r\n"
    "CallerIDNum: 79161110001\r\nCallerIDName: Алекс\r\nAccountCode: \r\n"
    "Uniqueid: 1795401185.2\r\nLinkedid: 1795401185.0\r\n\r\n"
).encode()
HANGUP = b"Event: Hangup\r\nUniqueid: 1795401185.2\r\nCause: 16\r\n\r\n"
STREAM = BANNER + LOGIN + NEWCHANNEL + HANGUP


def messages(items: list[AmiMessage | MalformedFrame]) -> list[AmiMessage]:
    return [m for m in items if isinstance(m, AmiMessage)]


def feed_all(chunks: list[bytes], splitter: FrameSplitter | None = None) -> list[object]:
    splitter = splitter or FrameSplitter()
    return [item for chunk in chunks for item in splitter.feed(chunk)]


def test_banner_is_kept_apart_and_messages_come_out_in_order() -> None:
    splitter = FrameSplitter()
    login, channel, hangup = splitter.feed(STREAM)
    assert splitter.banner == "Asterisk Call Manager/11.0.0"
    assert isinstance(login, AmiMessage) and login.response == "Success"
    assert isinstance(channel, AmiMessage) and channel.event == "Newchannel"
    assert channel.get("CallerIDName") == "Алекс"
    assert isinstance(hangup, AmiMessage) and hangup.get("Cause") == "16"


def test_every_split_point_gives_the_same_messages() -> None:
    # Including inside "\r\n\r\n" and inside the two-byte letters of 'Алекс'.
    whole = feed_all([STREAM])
    for cut in range(1, len(STREAM)):
        assert feed_all([STREAM[:cut], STREAM[cut:]]) == whole, cut


def test_one_byte_at_a_time_gives_the_same_messages() -> None:
    assert feed_all([bytes([b]) for b in STREAM]) == feed_all([STREAM])


def test_missing_header_reads_as_empty_and_item_access_is_a_mapping() -> None:
    msg = parse_message(NEWCHANNEL)
    assert msg.get("NoSuchHeader") == ""
    assert msg.get("NoSuchHeader", "x") == "x"
    assert msg.get("AccountCode") == ""  # "AccountCode: " is present and empty
    assert msg["Uniqueid"] == "1795401185.2"
    with pytest.raises(KeyError):
        msg["NoSuchHeader"]
    assert "Linkedid" in msg and "linkedid" not in msg  # names are case-sensitive
    assert list(msg)[:2] == ["Event", "Privilege"]
    assert msg.raw == NEWCHANNEL[:-4]


def test_repeated_headers_keep_every_value() -> None:
    msg = parse_message(b"Event: UserEvent\r\nVariable: A=1\r\nVariable: B=2\r\nX: y\r\n\r\n")
    assert msg.get("Variable") == "A=1"
    assert msg.getall("Variable") == ("A=1", "B=2")
    assert len(msg) == 3
    assert msg.pairs()[1:3] == (("Variable", "A=1"), ("Variable", "B=2"))


def test_header_without_space_or_value_is_accepted() -> None:
    msg = parse_message(b"Event: Foo\r\nA:b\r\nEmpty:\r\nUrl: http://x/y\r\n")
    assert (msg.get("A"), msg.get("Empty"), msg.get("Url")) == ("b", "", "http://x/y")


def test_messages_built_from_pairs_or_a_dict_compare_equal() -> None:
    a = AmiMessage({"Event": "Hangup", "Cause": "16"})
    b = AmiMessage([("Event", "Hangup"), ("Cause", "16")])
    assert a == b and hash(a) == hash(b)
    assert a == {"Event": "Hangup", "Cause": "16"}
    assert a != AmiMessage([("Event", "Hangup"), ("Cause", "16"), ("Cause", "17")])


def test_parse_message_raises_on_a_line_without_colon() -> None:
    with pytest.raises(AmiProtocolError, match="colon"):
        parse_message(b"Event: Foo\r\nthis line has none\r\n\r\n")
    with pytest.raises(AmiProtocolError):
        parse_message(b"")


def test_malformed_frame_is_reported_and_does_not_block_the_next() -> None:
    items = feed_all([BANNER + b"Event: Foo\r\ngarbage\r\n\r\n" + HANGUP])
    assert isinstance(items[0], MalformedFrame)
    assert "colon" in items[0].reason
    assert items[0].raw == b"Event: Foo\r\ngarbage"
    assert items[1] == parse_message(HANGUP)


def test_binary_garbage_with_a_terminator_is_one_malformed_frame() -> None:
    garbage = bytes(range(256)).replace(b"\r\n\r\n", b"")
    items = feed_all([LOGIN, garbage, b"\r\n\r\n", NEWCHANNEL, HANGUP])
    assert [type(i).__name__ for i in items] == [
        "AmiMessage",
        "MalformedFrame",
        "AmiMessage",
        "AmiMessage",
    ]


def test_runaway_frame_is_reported_once_then_skipped_to_the_next_terminator() -> None:
    splitter = FrameSplitter(max_frame=1024)
    out = feed_all([LOGIN, b"Event: Huge\r\nData: " + b"x" * 700], splitter)
    out += feed_all([b"y" * 700, b"z" * 5000, b"\r\n", b"\r\n", HANGUP], splitter)
    kinds = [type(i).__name__ for i in out]
    assert kinds == ["AmiMessage", "MalformedFrame", "AmiMessage"]
    assert isinstance(out[1], MalformedFrame)
    assert "1024" in out[1].reason and len(out[1].raw) == 1024
    assert out[2] == parse_message(HANGUP)


def test_terminator_straddling_chunks_while_skipping_is_found() -> None:
    splitter = FrameSplitter(max_frame=64)
    out = feed_all([b"A: " + b"x" * 100 + b"\r\n\r", b"\n" + HANGUP], splitter)
    assert [type(i).__name__ for i in out] == ["MalformedFrame", "AmiMessage"]


def test_complete_frame_over_the_limit_is_malformed() -> None:
    out = feed_all([b"A: " + b"x" * 100 + b"\r\n\r\n" + HANGUP], FrameSplitter(max_frame=64))
    assert [type(i).__name__ for i in out] == ["MalformedFrame", "AmiMessage"]


def test_stream_without_banner_and_stray_blank_lines() -> None:
    out = feed_all([b"\r\n" + HANGUP + b"\r\n\r\n" + HANGUP])
    assert out == [parse_message(HANGUP), parse_message(HANGUP)]


def test_split_returns_raw_frames() -> None:
    splitter = FrameSplitter()
    assert splitter.split(STREAM) == [LOGIN[:-4], NEWCHANNEL[:-4], HANGUP[:-4]]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    (msg,) = feed_all([b"Event: X\r\nName: \xff\xfeabc\r\n\r\n"])
    assert isinstance(msg, AmiMessage)
    assert msg.get("Name") == "\ufffd\ufffdabc"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=300), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    splitter = FrameSplitter(max_frame=512)
    pos = 0
    for size in [*cuts, len(data)]:
        for item in splitter.feed(data[pos : pos + size]):
            assert isinstance(item, AmiMessage | MalformedFrame)
        pos += size


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=50))
def test_valid_frames_after_garbage_still_come_out(garbage: bytes, chunk: int) -> None:
    data = BANNER + garbage + b"\r\n\r\n" + NEWCHANNEL + HANGUP
    splitter = FrameSplitter(max_frame=1024)
    out = [item for i in range(0, len(data), chunk) for item in splitter.feed(data[i : i + chunk])]
    assert messages(out)[-2:] == [parse_message(NEWCHANNEL), parse_message(HANGUP)]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(STREAM)), st.integers(min_value=1, max_value=40))
def test_truncated_stream_gives_a_prefix_of_the_messages(length: int, chunk: int) -> None:
    whole = feed_all([STREAM])
    data = STREAM[:length]
    out = feed_all([data[i : i + chunk] for i in range(0, len(data), chunk)])
    assert out == whole[: len(out)]
    assert all(isinstance(m, AmiMessage) for m in out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=30)), max_size=10))
def test_any_header_text_round_trips(headers: list[tuple[str, str]]) -> None:
    # Names without ':' or line breaks and values without line breaks are kept exactly.
    clean = [
        (k, v)
        for k, v in headers
        if not any(c in k for c in ":\r\n") and not any(c in v for c in "\r\n")
        and k.strip() == k and v[:1] != " "
    ]  # fmt: skip
    frame = "".join(f"{k}: {v}\r\n" for k, v in [("Event", "Test"), *clean]).encode()
    for cut in (1, 3, 7):
        out = feed_all([frame[:cut], frame[cut:], b"\r\n"])
        assert out == [AmiMessage([("Event", "Test"), *clean])]
