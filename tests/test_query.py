"""The keyword query language: normalisation, parsing, errors and matching (DESIGN §6)."""

from __future__ import annotations

import itertools

import pytest

from bot.query.match import Matcher, RuleMatch, TermHit
from bot.query.parse import And, Node, Not, Or, QueryError, Term, parse_query
from bot.query.textnorm import normalise, words


def matches(query: str, text: str) -> bool:
    """Whether `query` matches `text`, through a one-rule matcher."""
    return bool(Matcher.compile([("r", parse_query(query))]).match(text))


def hits(query: str, text: str) -> tuple[TermHit, ...]:
    """The term hits of a one-rule matcher (the rule must match)."""
    (found,) = Matcher.compile([("r", parse_query(query))]).match(text)
    return found.hits


def t(word: str) -> Term:
    """A one-word term as the parser builds it."""
    return Term(word, (word,))


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Хафтар MINSK", "хафтар minsk", id="casefold-cyrillic-latin"),
        pytest.param("МІНСЬК Білорусь", "мінськ білорусь", id="casefold-ukrainian"),
        pytest.param("Straße", "strasse", id="casefold-not-lower"),
        pytest.param("Ёлка и ёж", "елка и еж", id="yo-to-ye"),
        pytest.param("Ё", "е", id="capital-yo"),
        pytest.param("Хаф\u00adтар", "хафтар", id="soft-hyphen"),
        pytest.param("Min\u200bsk", "minsk", id="zero-width-space"),
        pytest.param("Min\u200csk Min\u200dsk", "minsk minsk", id="zero-width-joiners"),
        pytest.param("Min\u2060sk\ufeff", "minsk", id="word-joiner-and-bom"),
        pytest.param("Haftar’s", "haftar's", id="right-single-quote"),
        pytest.param("пʼять", "п'ять", id="modifier-letter-apostrophe"),
        pytest.param("‘quoted’", "'quoted'", id="left-single-quote"),
        pytest.param("Haftar`s", "haftar's", id="backtick"),
        pytest.param("ＭＩＮＳＫ １２", "minsk 12", id="nfkc-full-width"),
        pytest.param("ﬂight", "flight", id="nfkc-ligature"),
        pytest.param("Е\u0308лка", "елка", id="decomposed-yo"),
        pytest.param("Мі\u0301нськ", "мінськ", id="stress-mark"),
        pytest.param("<p>Belavia</p>", " belavia ", id="html-tags"),
        pytest.param("<!-- Minsk -->Belavia", " belavia", id="html-comment"),
        pytest.param("Haftar&#8217;s &amp; Minsk&nbsp;", "haftar's & minsk ", id="html-entities"),
        pytest.param("1 < 2 > 0", "1 < 2 > 0", id="lone-angle-brackets-kept"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    """normalise strips tags, applies NFKC and casefold, folds ё, apostrophes and invisibles."""
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Haftar's forces", ["haftar", "s", "forces"], id="apostrophe-splits"),
        pytest.param("п'ять", ["п", "ять"], id="ukrainian-apostrophe-splits"),
        pytest.param("Benghazi–Minsk", ["benghazi", "minsk"], id="dash-splits"),
        pytest.param("snake_case", ["snake", "case"], id="underscore-splits"),
        pytest.param("Boeing 737-800", ["boeing", "737", "800"], id="digits-are-words"),
        pytest.param("<b>Belavia</b>Minsk", ["belavia", "minsk"], id="tags-separate-words"),
        pytest.param("...", [], id="no-words"),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    """Words are runs of letters and digits; everything else separates them."""
    assert words(normalise(text)) == expected


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "root"),
    [
        pytest.param("a", t("a"), id="term"),
        pytest.param("a b", And((t("a"), t("b"))), id="implicit-and"),
        pytest.param("a AND b", And((t("a"), t("b"))), id="and"),
        pytest.param("a OR b", Or((t("a"), t("b"))), id="or"),
        pytest.param("a NOT b", And((t("a"), Not(t("b")))), id="not-is-and-not"),
        pytest.param("a AND NOT b", And((t("a"), Not(t("b")))), id="and-not"),
        pytest.param("a OR b c", Or((t("a"), And((t("b"), t("c"))))), id="and-over-or-right"),
        pytest.param("a b OR c", Or((And((t("a"), t("b"))), t("c"))), id="and-over-or-left"),
        pytest.param(
            "a OR b AND c", Or((t("a"), And((t("b"), t("c"))))), id="explicit-and-over-or"
        ),
        pytest.param("NOT a b", And((Not(t("a")), t("b"))), id="not-over-and"),
        pytest.param(
            "a OR NOT b c", Or((t("a"), And((Not(t("b")), t("c"))))), id="not-over-and-over-or"
        ),
        pytest.param("(a OR b) c", And((Or((t("a"), t("b"))), t("c"))), id="parentheses"),
        pytest.param(
            "a NOT (b OR c)", And((t("a"), Not(Or((t("b"), t("c")))))), id="not-parentheses"
        ),
        pytest.param("a OR b OR c", Or((t("a"), t("b"), t("c"))), id="or-flattened"),
        pytest.param("a (b AND c)", And((t("a"), t("b"), t("c"))), id="and-flattened"),
        pytest.param("((a))", t("a"), id="nested-parentheses"),
        pytest.param("NOT NOT a", Not(Not(t("a"))), id="double-not"),
        pytest.param("a(b)", And((t("a"), t("b"))), id="parentheses-need-no-spaces"),
    ],
)
def test_parse_structure(query: str, root: Node) -> None:
    """Operators parse with NOT > AND > OR; adjacent terms mean AND; parentheses group."""
    assert parse_query(query).root == root


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("Хафтар*", ("хафтар*",), id="prefix"),
        pytest.param("МІНСЬК", ("мінськ",), id="casefolded"),
        pytest.param("Ёлка", ("елка",), id="yo-folded"),
        pytest.param('"Eastern   Libya"', ("eastern", "libya"), id="phrase"),
        pytest.param('"belavia flight*"', ("belavia", "flight*"), id="phrase-ending-in-prefix"),
        pytest.param("Haftar’s", ("haftar", "s"), id="apostrophe-makes-a-phrase"),
        pytest.param("п'ять", ("п", "ять"), id="ukrainian-apostrophe"),
        pytest.param("Benghazi-Minsk*", ("benghazi", "minsk*"), id="hyphen-makes-a-phrase"),
        pytest.param("BELAVIA", ("belavia",), id="upper-case-word-is-a-term"),
        pytest.param('"AND"', ("and",), id="quoted-operator-is-a-word"),
        pytest.param('"Benghazi - Minsk"', ("benghazi", "minsk"), id="punctuation-in-phrase"),
    ],
)
def test_term_words_are_normalised(query: str, expected: tuple[str, ...]) -> None:
    """A term's words are normalised like item text; '*' marks a prefix."""
    root = parse_query(query).root
    assert isinstance(root, Term)
    assert root.words == expected
    assert root.text == query


def test_query_terms_and_positive_terms() -> None:
    """Query.terms lists distinct terms in order; positive_terms leaves out those under NOT."""
    query = parse_query('minsk* (belavia OR "eastern libya") NOT football minsk* NOT NOT bate')
    assert [term.text for term in query.terms()] == [
        "minsk*",
        "belavia",
        '"eastern libya"',
        "football",
        "bate",
    ]
    assert [term.text for term in query.positive_terms()] == [
        "minsk*",
        "belavia",
        '"eastern libya"',
        "bate",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "(haftar OR хафтар* OR benghazi OR бенгаз*) AND (belavia OR белав* OR minsk* OR мінськ*"
        " OR минск*)",
        "a NOT b",
        "NOT a b",
        "NOT NOT a",
        "(a OR b) NOT (c OR d)",
        "a (NOT b)",
        "a OR (b NOT c)",
        "NOT (NOT a OR NOT b)",
        "a\n  AND\tb",
    ],
)
def test_valid_queries_parse(query: str) -> None:
    """Queries that need a positive term parse, whatever their whitespace."""
    assert parse_query(query).text == query


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        pytest.param("", 1, "empty", id="empty"),
        pytest.param("   ", 1, "empty", id="blank"),
        pytest.param("(a", 1, "never closed", id="unclosed-paren"),
        pytest.param("a (b OR (c)", 3, "never closed", id="unclosed-outer-paren"),
        pytest.param("a)", 2, "no matching '('", id="stray-close-paren"),
        pytest.param("(a))", 4, "no matching '('", id="extra-close-paren"),
        pytest.param('"abc', 1, "never closed", id="unclosed-quote"),
        pytest.param('a "b c', 3, "never closed", id="unclosed-quote-later"),
        pytest.param("mi*nsk", 3, "only end a word", id="star-inside-word"),
        pytest.param("*minsk", 1, "only end a word", id="leading-star"),
        pytest.param("minsk**", 6, "only end a word", id="double-star"),
        pytest.param('"belavia fli*ght"', 13, "only end a word", id="star-inside-phrase-word"),
        pytest.param("ab*", 1, "too short", id="short-stem"),
        pytest.param("x аб*", 3, "too short", id="short-cyrillic-stem"),
        pytest.param('"a ab*"', 4, "too short", id="short-stem-in-phrase"),
        pytest.param("Haftar's*", 1, "too short", id="short-stem-after-apostrophe"),
        pytest.param("*", 1, "letters before it", id="bare-star"),
        pytest.param('""', 1, "phrase is empty", id="empty-phrase"),
        pytest.param('a "  "', 3, "phrase is empty", id="blank-phrase"),
        pytest.param('" - "', 1, "phrase is empty", id="punctuation-phrase"),
        pytest.param("---", 1, "no letters or digits", id="punctuation-term"),
        pytest.param("a AND", 3, "'AND' needs a term after it", id="dangling-and"),
        pytest.param("a OR", 3, "'OR' needs a term after it", id="dangling-or"),
        pytest.param("a NOT", 3, "'NOT' needs a term after it", id="dangling-not"),
        pytest.param("(a AND) b", 4, "'AND' needs a term after it", id="and-before-paren"),
        pytest.param("AND a", 1, "'AND' needs a term before it", id="leading-and"),
        pytest.param("OR a", 1, "'OR' needs a term before it", id="leading-or"),
        pytest.param("b (OR a)", 4, "'OR' needs a term before it", id="or-after-paren"),
        pytest.param("a AND OR b", 7, "'AND' needs a term after it", id="and-or"),
        pytest.param("a NOT AND b", 7, "'NOT' needs a term after it", id="not-and"),
        pytest.param("()", 1, "parentheses are empty", id="empty-parens"),
        pytest.param("a ( )", 3, "parentheses are empty", id="blank-parens"),
        pytest.param("a or b", 3, "'or' is a word here; write OR", id="lower-or"),
        pytest.param("a and b", 3, "'and' is a word here; write AND", id="lower-and"),
        pytest.param("not a", 1, "'not' is a word here; write NOT", id="lower-not"),
        pytest.param("Minsk Or Belarus", 7, "'Or' is a word here; write OR", id="title-case-or"),
        pytest.param("NOT x", 1, "matches every item that lacks x", id="not-alone"),
        pytest.param("a OR NOT b", 6, "matches every item that lacks b", id="or-not"),
        pytest.param("NOT (a b)", 1, "lacks a, b", id="not-group"),
        pytest.param("minsk OR (belavia OR NOT bate)", 22, "lacks bate", id="nested-or-not"),
        pytest.param("NOT NOT NOT a", 1, "lacks a", id="triple-not"),
        pytest.param("-minsk", 1, "write NOT minsk", id="minus-is-not-not"),
        pytest.param("“eastern libya”", 1, "straight quotes", id="typographic-quotes"),
        pytest.param("a «b c»", 3, "straight quotes", id="guillemets"),
        pytest.param("'eastern libya'", 1, "double quotes", id="single-quotes"),
    ],
)
def test_query_errors(query: str, column: int, fragment: str) -> None:
    """Every malformed query is a QueryError with a clear message and a 1-based column."""
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert fragment in caught.value.message
    assert caught.value.column == column


def test_query_error_is_a_value_error_naming_its_column() -> None:
    """QueryError is a ValueError whose text names the column."""
    with pytest.raises(ValueError, match=r"^column 3: 'or' is a word here") as caught:
        parse_query("a or b")
    assert isinstance(caught.value, QueryError)


# --- matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        pytest.param("haftar minsk", "Haftar visits Minsk", True, id="implicit-and-both"),
        pytest.param("haftar minsk", "Haftar visits Moscow", False, id="implicit-and-one"),
        pytest.param("haftar AND minsk", "Minsk welcomes Haftar", True, id="and-any-order"),
        pytest.param("haftar OR minsk", "Minsk news", True, id="or-one"),
        pytest.param("haftar OR minsk", "Moscow news", False, id="or-none"),
        pytest.param("minsk NOT football", "Minsk news", True, id="not-absent"),
        pytest.param("minsk NOT football", "Minsk football news", False, id="not-present"),
        pytest.param("a OR b c", "a", True, id="precedence-or-left"),
        pytest.param("a OR b c", "b", False, id="precedence-and-binds-tighter"),
        pytest.param("a OR b c", "c b", True, id="precedence-and-branch"),
        pytest.param("(a OR b) c", "a", False, id="parentheses-group"),
        pytest.param("(a OR b) c", "b c", True, id="parentheses-group-met"),
        pytest.param("a NOT b OR c", "a b c", True, id="not-binds-to-one-term"),
        pytest.param("a NOT (b OR c)", "a c", False, id="not-group"),
        pytest.param("a NOT NOT b", "a b", True, id="double-not"),
        pytest.param("NOT (NOT a OR NOT b)", "b a", True, id="de-morgan"),
        pytest.param("NOT (NOT a OR NOT b)", "b", False, id="de-morgan-one"),
    ],
)
def test_operators(query: str, text: str, expected: bool) -> None:
    """AND, OR, NOT, implicit AND and parentheses evaluate with NOT > AND > OR."""
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        pytest.param("minsk", "Minsk airport", True, id="word"),
        pytest.param("minsk", "Minskaya oblast", False, id="word-is-whole-latin"),
        pytest.param("минск", "Минская область", False, id="word-is-whole-cyrillic"),
        pytest.param("минск", "Минске", False, id="word-is-not-inflected"),
        pytest.param("minsk", "Minsk's mayor", True, id="possessive-splits"),
        pytest.param("minsk", "Benghazi–Minsk flights", True, id="dash-splits"),
        pytest.param("lna", "Elnaz", False, id="not-inside-a-word"),
        pytest.param("minsk*", "Minskaya oblast", True, id="prefix-latin"),
        pytest.param("minsk*", "Minsk", True, id="prefix-matches-its-stem"),
        pytest.param("minsk*", "Ministry", False, id="prefix-needs-whole-stem"),
        pytest.param("minsk*", "the Minsk-based airline", True, id="prefix-in-compound"),
        pytest.param("хафтар*", "з Хафтаром", True, id="uk-instrumental"),
        pytest.param("хафтар*", "Хафтарові", True, id="uk-dative"),
        pytest.param("хафтар*", "сына Хафтара", True, id="ru-genitive"),
        pytest.param("хафтар*", "о Хафтаре", True, id="ru-prepositional"),
        pytest.param("бенгаз*", "у Бенгазі", True, id="uk-benghazi"),
        pytest.param("бенгаз*", "в Бенгази", True, id="ru-benghazi"),
        pytest.param("мінськ*", "до Мінська", True, id="uk-minsk-genitive"),
        pytest.param("мінськ*", "у Мінську", True, id="uk-minsk-locative"),
        pytest.param("минск*", "в Минске", True, id="ru-minsk-prepositional"),
        pytest.param("минск*", "над Минском", True, id="ru-minsk-instrumental"),
        pytest.param("мінськ*", "в Минске", False, id="uk-stem-not-ru"),
        pytest.param("белав*", "«Белавиа»", True, id="ru-belavia"),
        pytest.param("белав*", "«Белавіа»", True, id="uk-belavia"),
        pytest.param("migrant*", "Migrants and migration", True, id="en-plural"),
        pytest.param("flight*", "FLIGHTS", True, id="prefix-casefolded"),
    ],
)
def test_whole_words_and_prefixes(query: str, text: str, expected: bool) -> None:
    """Words match whole words only; prefixes catch inflections in English, Ukrainian, Russian."""
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        pytest.param('"eastern libya"', "forces in Eastern Libya", True, id="phrase"),
        pytest.param('"eastern libya"', "Libya, eastern", False, id="phrase-order"),
        pytest.param('"eastern libya"', "eastern and western Libya", False, id="phrase-adjacent"),
        pytest.param('"eastern libya"', "eastern libyan", False, id="phrase-whole-words"),
        pytest.param('"benghazi minsk"', "Benghazi–Minsk route", True, id="phrase-over-dash"),
        pytest.param('"belavia flight*"', "Belavia flights", True, id="phrase-prefix"),
        pytest.param('"belavia flight*"', "Belavia’s flights", False, id="phrase-prefix-gap"),
        pytest.param('"восточн* ливи*"', "на востоке Ливии", False, id="phrase-prefixes-stems"),
        pytest.param('"восточн* ливи*"', "Восточной Ливии", True, id="phrase-all-prefixes"),
        pytest.param('"a b a c"', "a b a b a c", True, id="phrase-overlapping-start"),
        pytest.param("haftar's", "Haftar’s forces", True, id="apostrophe-term"),
        pytest.param("п'ять", "п’ять рейсів", True, id="uk-apostrophe-term"),
        pytest.param("п’ять", "пʼять рейсів", True, id="uk-curly-apostrophe-term"),
    ],
)
def test_phrases(query: str, text: str, expected: bool) -> None:
    """Phrases match consecutive words, in order; a phrase word may be a prefix."""
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text"),
    [
        pytest.param("ёлка", "Елка", id="yo-in-query"),
        pytest.param("елка", "ЁЛКА", id="yo-in-text"),
        pytest.param("хафтар", "Хаф\u00adтар", id="soft-hyphen"),
        pytest.param("minsk", "Min\u200bsk", id="zero-width-space"),
        pytest.param("minsk", "ＭＩＮＳＫ", id="full-width"),
        pytest.param("мінськ", "МІНСЬК", id="cyrillic-upper"),
        pytest.param("МІНСЬК", "мінськ", id="cyrillic-upper-query"),
        pytest.param("minsk", "MINSK", id="latin-upper"),
        pytest.param("belavia", "<p><b>Belavia</b> adds flights</p>", id="html-tags"),
        pytest.param("haftar", "Haftar&#8217;s", id="html-entity"),
        pytest.param("мінськ", "Мі\u0301нськ", id="stress-mark"),
    ],
)
def test_normalisation_applies_to_queries_and_text(query: str, text: str) -> None:
    """Queries and texts are normalised alike: case, ё, invisibles, NFKC, tags, entities."""
    assert matches(query, text)


def test_tag_attributes_are_not_text() -> None:
    """Words inside HTML tags (attributes) do not match."""
    assert not matches("minsk", '<a href="https://minsk.example/">link</a>')


def test_hits_list_terms_and_forms_in_query_order() -> None:
    """A match lists each positive term found, as written, with the forms it matched."""
    text = "Хафтар прибув до Мінська. Хафтарові показали Minsk. Знову Хафтар"
    query = "(хафтар* OR Haftar) AND (Minsk* OR мінськ*) NOT football"
    assert hits(query, text) == (
        TermHit("хафтар*", ("хафтар", "хафтарові")),
        TermHit("Minsk*", ("minsk",)),
        TermHit("мінськ*", ("мінська",)),
    )


def test_hits_leave_out_negated_terms() -> None:
    """Terms under NOT are not listed, even when present in the text."""
    assert hits("belavia NOT (dubai AND lease)", "Belavia Dubai") == (
        TermHit("belavia", ("belavia",)),
    )


def test_hits_list_every_positive_term_present() -> None:
    """Positive terms found in an unmet branch are listed too: the alert shows what was found."""
    assert hits("(a b) OR c", "c a") == (TermHit("a", ("a",)), TermHit("c", ("c",)))


def test_hits_list_each_term_once() -> None:
    """A term found many times, or written twice in the query, is listed once."""
    text = "Minsk, Minsk! MINSK. Minsk's Minsky Minsk"
    assert hits("minsk* AND (belavia OR minsk*)", text) == (TermHit("minsk*", ("minsk", "minsky")),)


def test_hits_of_phrases() -> None:
    """A phrase hit lists each distinct matched word sequence."""
    text = "Belavia flights; a Belavia flight; Belavia flights"
    assert hits('"belavia flight*"', text) == (
        TermHit('"belavia flight*"', ("belavia flights", "belavia flight")),
    )


RULES = [
    ("libya", "haftar OR бенгаз*"),
    ("belarus", "minsk* OR belavia"),
    ("both", "haftar minsk*"),
]


def test_matcher_evaluates_all_rules_in_configuration_order() -> None:
    """Without rule_ids every rule is evaluated; results keep configuration order."""
    matcher = Matcher.compile([(rule_id, parse_query(q)) for rule_id, q in RULES])
    found = matcher.match("Haftar in Minsk")
    assert [m.rule_id for m in found] == ["libya", "belarus", "both"]
    assert found[2] == RuleMatch(
        "both", (TermHit("haftar", ("haftar",)), TermHit("minsk*", ("minsk",)))
    )


@pytest.mark.parametrize(
    ("rule_ids", "expected"),
    [
        pytest.param({"belarus"}, ["belarus"], id="set"),
        pytest.param(["both", "libya"], ["libya", "both"], id="list-keeps-config-order"),
        pytest.param(frozenset(), [], id="empty"),
        pytest.param({"unknown", "libya"}, ["libya"], id="unknown-ids-ignored"),
        pytest.param({"x": 1, "belarus": 2}.keys(), ["belarus"], id="dict-keys"),
    ],
)
def test_matcher_evaluates_a_subset(rule_ids: set[str], expected: list[str]) -> None:
    """With rule_ids only those rules are evaluated."""
    matcher = Matcher.compile([(rule_id, parse_query(q)) for rule_id, q in RULES])
    found = matcher.match("Haftar in Minsk", rule_ids)
    assert [m.rule_id for m in found] == expected


def test_matcher_rejects_a_single_string_as_rule_ids() -> None:
    """rule_ids="libya" is a mistake (a string is a collection of letters), not a subset."""
    matcher = Matcher.compile([(rule_id, parse_query(q)) for rule_id, q in RULES])
    with pytest.raises(TypeError, match="not one string"):
        matcher.match("Haftar", "libya")


def test_unclosed_comments_are_cheap() -> None:
    """Many unclosed '<!--' in a big text are stripped in linear time, not quadratic."""
    text = "<!-- Minsk " * 50_000
    assert words(normalise(text)) == ["minsk"] * 50_000


def test_matcher_is_repeatable() -> None:
    """Matching the same texts again gives the same answers (the token memo is invisible)."""
    matcher = Matcher.compile([(rule_id, parse_query(q)) for rule_id, q in RULES])
    texts = ["Haftar in Minsk", "Belavia", "в Бенгазі", "nothing", "Haftar in Minsk"]
    first = [matcher.match(text) for text in texts]
    assert [matcher.match(text) for text in texts] == first
    assert first[0] == first[4]


def test_matcher_starts_its_token_memo_over_when_it_is_full() -> None:
    """Past 200,000 distinct tokens the memo is emptied; matching goes on as before."""
    matcher = Matcher.compile([("r", parse_query("alpha"))])
    filler = " ".join(f"w{n}" for n in range(199_999))
    assert [m.rule_id for m in matcher.match(f"alpha {filler}")] == ["r"]
    assert [m.rule_id for m in matcher.match("alpha and one more new word")] == ["r"]


def test_matcher_with_no_rules_and_empty_text() -> None:
    """An empty matcher matches nothing; an empty text matches nothing."""
    assert Matcher.compile([]).match("Haftar") == []
    assert Matcher.compile([("r", parse_query("haftar"))]).match("") == []


def test_matcher_rejects_duplicate_rule_ids() -> None:
    """Rule ids must be unique within one matcher."""
    with pytest.raises(ValueError, match="duplicate rule id 'a'"):
        Matcher.compile([("a", parse_query("x")), ("a", parse_query("y"))])


def test_prefixes_sharing_their_first_letters_stay_apart() -> None:
    """Prefixes indexed under the same first letters each match only their own stem."""
    matcher = Matcher.compile(
        [("minsk", parse_query("minsk*")), ("minister", parse_query("minist*"))]
    )
    assert [m.rule_id for m in matcher.match("the ministry")] == ["minister"]
    assert [m.rule_id for m in matcher.match("Minsk")] == ["minsk"]


def test_rules_share_terms() -> None:
    """A term used by several rules (even spelled differently) is found for each of them."""
    matcher = Matcher.compile([("a", parse_query("Minsk")), ("b", parse_query("MINSK belavia"))])
    found = matcher.match("minsk belavia")
    assert found == [
        RuleMatch("a", (TermHit("Minsk", ("minsk",)),)),
        RuleMatch("b", (TermHit("MINSK", ("minsk",)), TermHit("belavia", ("belavia",)))),
    ]


def evaluate(node: Node, present: set[str]) -> bool:
    """Reference semantics: evaluate the syntax tree over the set of words present."""
    if isinstance(node, Term):
        return node.words[0] in present
    if isinstance(node, Not):
        return not evaluate(node.operand, present)
    if isinstance(node, And):
        return all(evaluate(child, present) for child in node.operands)
    return any(evaluate(child, present) for child in node.operands)


@pytest.mark.parametrize(
    "query",
    [
        "alpha",
        "alpha bravo",
        "alpha OR bravo",
        "alpha NOT bravo",
        "(alpha OR bravo) (charlie OR delta)",
        "(alpha OR bravo) NOT (charlie delta)",
        "alpha (bravo OR NOT charlie)",
        "alpha OR (bravo NOT alpha)",
        "(alpha NOT bravo) OR (bravo NOT alpha)",
        "NOT (NOT alpha OR NOT bravo) OR charlie delta",
        "alpha bravo OR charlie NOT delta OR NOT NOT delta",
        "(alpha OR NOT bravo) charlie",
    ],
)
def test_matcher_agrees_with_the_syntax_tree(query: str) -> None:
    """For every combination of terms present, the compiled matcher equals direct evaluation."""
    parsed = parse_query(query)
    matcher = Matcher.compile([("r", parsed)])
    vocabulary = ["alpha", "bravo", "charlie", "delta"]
    for n in range(len(vocabulary) + 1):
        for present in itertools.combinations(vocabulary, n):
            expected = evaluate(parsed.root, set(present))
            assert bool(matcher.match(" ".join(present))) is expected, present
