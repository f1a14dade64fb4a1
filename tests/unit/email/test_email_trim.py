"""Reply trimming: Discourse's email_reply_trimmer golden corpus (64 cases), the
linear-time rewrites checked against upstream's literal regexes, hostile inputs."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from channels.email import trim_patterns as P
from channels.email import trim_pre as pre
from channels.email import trim_reply
from channels.email import trim_shape as S
from channels.email.trim import MAX_TRIM_CHARS

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "email_reply_trimmer"
NAMES = sorted(p.stem for p in (CORPUS / "emails").glob("*.txt")) if CORPUS.is_dir() else []
ABSENT = f"trimmer corpus not found at {CORPUS} (a checkout without ../shared)"
CASES = NAMES or [pytest.param("absent", marks=pytest.mark.skip(reason=ABSENT))]


def _case(name: str) -> tuple[str, str, str]:
    email = (CORPUS / "emails" / f"{name}.txt").read_bytes().decode("utf-8")
    trimmed = (CORPUS / "trimmed" / f"{name}.txt").read_text("utf-8")
    elided = (CORPUS / "elided" / f"{name}.txt").read_text("utf-8")
    return email, trimmed, elided


@pytest.mark.parametrize("name", CASES)
def test_trimmed(name: str) -> None:
    email, trimmed, _ = _case(name)
    assert trim_reply(email)[0].strip() == trimmed.strip()


@pytest.mark.parametrize("name", CASES)
def test_elided(name: str) -> None:
    email, _, elided = _case(name)
    assert trim_reply(email)[1].strip() == elided.strip()


def test_conformance() -> None:
    if not NAMES:
        pytest.skip(ABSENT)
    exact = sum(trim_reply(e)[0].strip() == t.strip() for e, t, _ in map(_case, NAMES))
    elided = sum(trim_reply(e)[1].strip() == x.strip() for e, _, x in map(_case, NAMES))
    print(f"trim conformance: {exact}/{len(NAMES)} (elided {elided}/{len(NAMES)})")
    assert len(NAMES) == 64
    assert exact == elided == 64


def test_simple_cases() -> None:
    assert trim_reply("") == ("", "")
    assert trim_reply(" \n\t\n") == ("", "")
    text = "Thanks, that works!\r\n\r\nOn Mon, 1 Jan 2024 at 10:00, Support <s@x.io> wrote:\r\n> Try it"
    assert trim_reply(text) == ("Thanks, that works!",
                                "On Mon, 1 Jan 2024 at 10:00, Support <s@x.io> wrote:\n> Try it")
    assert trim_reply("Hi\n\nSent from my iPhone") == ("Hi", "Sent from my iPhone")


def test_code_blocks_survive() -> None:
    text = "See:\n\n```\n> not a quote\n-- \n```\n\nbye"
    assert trim_reply(text)[0] == text


def test_huge_body_trims_the_head_only() -> None:
    reply = "New text.\n\nOn Tue, Jan 2, 2024, Bob <b@x.io> wrote:\n> old\n"
    body = reply + "> more quote\n" * (MAX_TRIM_CHARS // 10)
    trimmed, elided = trim_reply(body)
    assert trimmed == "New text."
    assert elided.endswith("> more quote")
    long_reply = "line of new text\n" * (MAX_TRIM_CHARS // 10)
    assert trim_reply(long_reply) == (long_reply.strip(), "")


@pytest.mark.parametrize("unit", ["At x\n", "x wrote on y ", "2013napis ", "Am a schrieb b ",
                                  ">>> a >>>\n", "```\n", "q\n>\n", "From: a\nx\n",
                                  "Unsubscribe: a@b\n", "-----BEGIN PGP SIGNATURE-----\n",
                                  "a via b wrote ", "x@y.zz wrote ", "tb\nOn a wrote:\n"])
def test_hostile_input_does_not_hang(unit: str) -> None:
    """Catastrophic backtracking would never finish: run it in a child process that is
    killed after a generous 120 s (normally ~0.1 s), so a hang fails this test instead of
    stalling the suite. How fast it is belongs to the benchmarks, not here."""
    body = unit * (60_000 // len(unit)) + "napisał(a): пише: wrote: schrieb:"
    code = ("import sys; from channels.email.trim import trim_reply;"
            " text, quoted = trim_reply(sys.stdin.read()); print(len(text) + len(quoted))")
    done = subprocess.run([sys.executable, "-c", code], input=body, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


# ---- the rewrites equal upstream's literal regexes -----------------------------------

def _random_strings(alphabet: list[str], count: int, seed: int, max_len: int = 25) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, max_len)))
            for _ in range(count)]


def _start(m: re.Match[str] | None) -> int:
    return m.start() if m else -1


SHAPES = [
    (r"[eq]+$", S.trailing_eq, _start),
    (r"t[et]*$", S.trailing_text, _start),
    (r"^b[^t]+t[et]*$", S.reply_at_end, lambda m: m is not None),
    (r"te*b[^q]*$", S.marker_without_quote, _start),
    (r"te*b[eqbh]*([te]*)$", S.marker_before_quote,
     lambda m: (m.start(), m.group(1)) if m else (-1, "")),
    (r"t?e*[qbe]+$", S.quote_at_end, _start),
    (r"h+[hte]+h+e", S.multiline_headers, lambda m: m.span() if m else (-1, -1)),
    (r"t[eq]*h{3,}", S.header_block, _start),
]


@pytest.mark.parametrize(("regex", "fn", "result"), SHAPES, ids=[s[0] for s in SHAPES])
def test_shape_functions_equal_upstream_regexes(regex, fn, result) -> None:  # type: ignore[no-untyped-def]
    for p in _random_strings([*list("behqt"), "hte", "eq", "tb"], 4000, seed=len(regex)):
        assert fn(p) == result(re.search(regex, p)), p


_UPSTREAM_PRE = {
    "unsubscribe": (re.compile(r"^Unsubscribe: .+@.+(\n.+http:.+)?[ \t\r\n\f\v]*\Z", re.I | re.M),
                    lambda m: "", pre.remove_unsubscribe,
                    ["Unsubscribe: ", "unsubscribe: ", "a", "@", "\n", " ", "http:", "x@y"]),
    "alias": (re.compile(r'^.*>{5} "[^"\n]+" == .+ writes:', re.M), lambda m: "",
              pre.remove_alias_markers, ['>>>>> "', '"', " == ", " writes:", "a", "\n", ">"]),
    "enclosed": (re.compile(rf"^>{{4,}}{P.BLANK}*$\n([\s\S]+?)\n^<{{4,}}{P.BLANK}*$", re.M),
                 lambda m: pre.quote_all(m.group(1)),
                 lambda t: pre._replace_enclosed(t, pre._PLAIN_OPEN, pre._PLAIN_CLOSE, False),
                 [">>>>", "<<<<", ">", "<", " ", "a", "\n", "\n\n"]),
    "named": (re.compile(r"^>>> ?(.+) ?>>>$\n([\s\S]+?)\n^<<< ?\1 ?<<<$", re.M),
              lambda m: pre.quote_all(m.group(2)),
              lambda t: pre._replace_enclosed(t, pre._NAMED_OPEN, pre._NAMED_CLOSE, True),
              ["\n>>> a >>>\n", "\n<<< a <<<\n", "\n>>>a >>>\n", "\n<<<a<<<\n", "\n<<< a  <<<\n",
               "x", "\n", ">>> b >>>", "\n<<< b <<<", " "]),
    "pgp": (re.compile(r"^-----BEGIN PGP SIGNATURE-----$[\s\S]+^-----END PGP SIGNATURE-----",
                       re.M), lambda m: "", pre.remove_pgp,
            ["-----BEGIN PGP SIGNATURE-----", "-----END PGP SIGNATURE-----", "\n", "a"]),
}


@pytest.mark.parametrize("name", sorted(_UPSTREAM_PRE))
def test_preprocessing_equals_upstream_regexes(name: str) -> None:
    regex, repl, fn, alphabet = _UPSTREAM_PRE[name]
    for s in _random_strings(alphabet, 3000, seed=len(name)):
        assert fn(s) == regex.sub(repl, s), s


def test_code_block_spans_equal_upstream_regex() -> None:
    upstream = re.compile(r"^```[a-zA-Z0-9_]*$\n.*?^```$", re.M | re.S)
    for s in _random_strings(["```", "```rb", "\n", "a", " ", "`"], 3000, seed=5):
        assert pre.code_block_spans(s) == [m.span() for m in upstream.finditer(s)], s


def test_date_someone_wrote_equals_upstream_regex() -> None:
    d = r"[0-9]"
    upstream = [
        re.compile(rf"{d}{{4}}.{{1,80}}пользователь.{{0,80}}\n?.{{0,80}}?написал:"),
        re.compile(rf"{d}{{4}}.{{1,80}}\n?.{{0,80}}?napisał\(a\):"),
        re.compile(rf"{d}{{4}}.{{1,80}}\n?.{{0,80}}?пише:"),
    ]
    alphabet = ["2013", "1", "пользователь", "написал:", "napisał(a):", "пише:", "\n", "x", ":",
                "y" * 30, "z" * 70]
    for ours, theirs in zip(P.DATE_SOMEONE_WROTE, upstream, strict=True):
        for s in _random_strings(alphabet, 3000, seed=11, max_len=20):
            assert ours.spans(s) == [m.span() for m in theirs.finditer(s)], s


def test_someone_wrote_on_date_equals_upstream_regex() -> None:
    upstream = re.compile(r"^.+\bwrote\b\s+\bon\b.+[^:]+:", re.M)
    alphabet = ["wrote", " on", "wrote on", " ", "\n", ":", "x", "::", "on:", "\t"]
    for s in _random_strings(alphabet, 4000, seed=13):
        assert ([m.span() for m in P.SOMEONE_WROTE_ON_DATE[0].finditer(s)]
                == [m.span() for m in upstream.finditer(s)]), s
