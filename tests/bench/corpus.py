"""Synthetic but realistic news for the benchmarks: feeds, items and keyword rules.

Everything is deterministic (seeded), so a benchmark process, a feed server in another
process and a bare-parse baseline all see the same bytes.

- Text mixes a few hundred common words per language (English, Ukrainian, Russian) with a
  long Zipf tail of rare pseudo-words (as names, places and jargon are in real news), and
  mentions about a hundred named entities (people, places, organisations, topics) with
  Ukrainian and Russian case endings, so prefixes and phrases have something to match.
- A feed is RSS 2.0 with 50 items: a 6-12 word title, a 500-800 byte HTML summary
  (paragraphs, links, bold, numeric entities), link, guid, pubDate and a category: about
  50 KB. A third of the feeds are Ukrainian or Russian.
- Keyword rules combine entity groups the way the shipped rules do: English words and
  prefixes, Ukrainian and Russian prefixes, phrases, AND / OR / NOT.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import accumulate
from xml.sax.saxutils import escape

ITEMS_PER_FEED = 50
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

# (English form, Ukrainian stem, Russian stem), most often mentioned first; a multi-word form
# is a phrase. English forms ending in "*" are written as prefixes in queries and get an
# English ending in texts. The Libya-Belarus story is rare, as it is in real news.
ENTITIES: tuple[tuple[str, str, str], ...] = (
    ("russia*", "росі", "росси"),
    ("ukrain*", "україн", "украин"),
    ("putin", "путін", "путин"),
    ("kyiv", "київ", "киев"),
    ("moscow", "москв", "москв"),
    ("drone*", "дрон", "дрон"),
    ("missile*", "ракет", "ракет"),
    ("sanction*", "санкці", "санкци"),
    ("nato", "нато", "нато"),
    ("election*", "вибор", "выбор"),
    ("border*", "кордон", "границ"),
    ("oil", "нафт", "нефт"),
    ("iran*", "іран", "иран"),
    ("syria*", "сирі", "сири"),
    ("turkey", "туреччин", "турци"),
    ("germany", "німеччин", "германи"),
    ("poland", "польщ", "польш"),
    ("italy", "італі", "итали"),
    ("migrant*", "мігрант", "мигрант"),
    ("refugee*", "біженц", "беженц"),
    ("weapon*", "збро", "оружи"),
    ("protest*", "протест", "протест"),
    ("ceasefire", "перемир", "перемир"),
    ("european commission", "європейськ коміс", "европейск комисс"),
    ("von der leyen", "фон дер ляєн", "фон дер ляйен"),
    ("macron", "макрон", "макрон"),
    ("zelensk*", "зеленськ", "зеленск"),
    ("erdogan", "ердоган", "эрдоган"),
    ("kharkiv", "харків", "харьков"),
    ("odesa", "одес", "одесс"),
    ("donetsk", "донецьк", "донецк"),
    ("crimea*", "крим", "крым"),
    ("lavrov", "лавров", "лавров"),
    ("shoigu", "шойгу", "шойгу"),
    ("gazprom", "газпром", "газпром"),
    ("rosatom", "росатом", "росатом"),
    ("grain", "зерн", "зерн"),
    ("uranium", "уран", "уран"),
    ("pipeline*", "трубопровод", "трубопровод"),
    ("gold", "золот", "золот"),
    ("flight*", "рейс", "рейс"),
    ("aircraft", "літак", "самолет"),
    ("airport*", "аеропорт", "аэропорт"),
    ("charter*", "чартер", "чартер"),
    ("tusk", "туск", "туск"),
    ("meloni", "мелоні", "мелони"),
    ("orban", "орбан", "орбан"),
    ("kallas", "каллас", "каллас"),
    ("nauseda", "науседа", "науседа"),
    ("warsaw", "варшав", "варшав"),
    ("vilnius", "вільнюс", "вильнюс"),
    ("riga", "риг", "риг"),
    ("tallinn", "таллінн", "таллин"),
    ("lithuania*", "литв", "литв"),
    ("latvia*", "латві", "латви"),
    ("estonia*", "естоні", "эстони"),
    ("egypt*", "єгипт", "египт"),
    ("sudan*", "судан", "судан"),
    ("niger", "нігер", "нигер"),
    ("mali", "малі", "мали"),
    ("cairo", "каїр", "каир"),
    ("tehran", "тегеран", "тегеран"),
    ("ankara", "анкар", "анкар"),
    ("istanbul", "стамбул", "стамбул"),
    ("dubai", "дубай", "дубай"),
    ("damascus", "дамаск", "дамаск"),
    ("tartus", "тартус", "тартус"),
    ("latakia", "латакі", "латаки"),
    ("khartoum", "хартум", "хартум"),
    ("niamey", "ніамей", "ниамей"),
    ("bamako", "бамако", "бамако"),
    ("lampedusa", "лампедуз", "лампедуз"),
    ("sevastopol", "севастопол", "севастопол"),
    ("kaliningrad", "калінінград", "калининград"),
    ("grodno", "гродн", "гродн"),
    ("brest", "брест", "брест"),
    ("gomel", "гомел", "гомел"),
    ("wagner", "вагнер", "вагнер"),
    ("prigozhin", "пригожин", "пригожин"),
    ("africa corps", "африканськ корпус", "африканск корпус"),
    ("mercenar*", "найманц", "наемник"),
    ("embass*", "посольств", "посольств"),
    ("smuggl*", "контрабанд", "контрабанд"),
    ("frontex", "фронтекс", "фронтекс"),
    ("aeroflot", "аерофлот", "аэрофлот"),
    ("il 76", "іл 76", "ил 76"),
    ("cham wings", "чам вінгс", "чам вингс"),
    ("belarus*", "білорус", "белорус"),
    ("minsk*", "мінськ", "минск"),
    ("lukashenk*", "лукашенк", "лукашенк"),
    ("libya*", "ліві", "ливи"),
    ("tripoli", "тріпол", "трипол"),
    ("dbeibah", "дбейб", "дбейб"),
    ("misrata", "місрат", "мисрат"),
    ("sirte", "сірт", "сирт"),
    ("sebha", "себх", "себх"),
    ("kufra", "куфр", "куфр"),
    ("benghazi", "бенгаз", "бенгаз"),
    ("libyan national army", "лівійськ національн арм", "ливийск национальн арм"),
    ("haftar", "хафтар", "хафтар"),
    ("belavia", "белавіа", "белавиа"),
)

_ENDINGS = {
    "en": ("", "", "", "s", "'s", "n", "ns"),
    "uk": ("", "а", "у", "ом", "і", "ові", "ою", "ах"),
    "ru": ("", "а", "у", "ом", "е", "ой", "ы", "ами"),
}


def _split(text: str) -> list[str]:
    return text.split()


_COMMON = {
    "en": _split(
        "the of and to in a is that for on it with as was said by at from he his be this an "
        "are have has were not but had they which its after new year been would their more "
        "will one who also over two about than up first other people into government last "
        "told minister president officials week country military forces security talks "
        "state could since against between reported according statement local including "
        "meeting agreement support three public report may under city region where during "
        "while national foreign police court army power because there however some many "
        "what when most several month international political economic attack troops war "
        "peace deal trade plan law group party leader control north south east west "
        "capital visit delegation ministry spokesman agency news service announced "
        "confirmed denied warned called added noted says made took held came sent began"
    ),
    "uk": _split(
        "і в на що з не до у за як про це від та його для але які року після під час також "
        "було був була буде вже може між через так ще коли де президент міністр уряд "
        "країни влади заявив повідомив сказав тиждень місяць році людей військові сили "
        "безпеки переговори держави міста регіону району угоду зустріч візит делегація "
        "міністерство агентство новини служба оголосив підтвердив заперечив попередив "
        "закликав додав зазначив війна мир торгівля план закон група партія лідер контроль "
        "північ південь схід захід столиця проти разом більше менше нових перший другий"
    ),
    "ru": _split(
        "и в на что с не по к у за как о это от его для но которые года после под время "
        "также было был была будет уже может между через так еще когда где президент "
        "министр правительство страны власти заявил сообщил сказал неделю месяц году людей "
        "военные силы безопасности переговоры государства города региона района соглашение "
        "встреча визит делегация министерство агентство новости служба объявил подтвердил "
        "опроверг предупредил призвал добавил отметил война мир торговля план закон группа "
        "партия лидер контроль север юг восток запад столица против вместе больше меньше"
    ),
}

_SYLLABLES = {
    "en": [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ar", "en", "or")],
    "uk": [c + v for c in "бвгдзклмнпрстхчш" for v in ("а", "е", "и", "і", "о", "у", "ї", "є")],
    "ru": [c + v for c in "бвгдзклмнпрстхчш" for v in ("а", "е", "и", "ы", "о", "у", "ё", "я")],
}

_DOMAINS = {"en": "news.example.com", "uk": "novyny.example.com.ua", "ru": "novosti.example.net"}


def _zipf_weights(size: int, exponent: float) -> list[float]:
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1)))


@dataclass(frozen=True)
class Language:
    """The vocabulary of one language: common words, a rare tail, entity forms."""

    code: str
    common: tuple[str, ...]
    common_weights: tuple[float, ...]
    rare: tuple[str, ...]
    rare_weights: tuple[float, ...]


def _language(code: str, rare_words: int = 20_000) -> Language:
    rng = random.Random(f"vocabulary-{code}")
    syllables = _SYLLABLES[code]
    rare: dict[str, None] = {}
    while len(rare) < rare_words:
        rare["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))] = None
    common = tuple(_COMMON[code])
    return Language(
        code,
        common,
        tuple(_zipf_weights(len(common), 1.0)),
        tuple(rare),
        tuple(_zipf_weights(rare_words, 1.05)),
    )


_ENTITY_WEIGHTS = tuple(_zipf_weights(len(ENTITIES), 0.8))


class TextMaker:
    """Sentences, titles and HTML summaries in one language, from a seeded generator."""

    def __init__(self, language: Language, rng: random.Random) -> None:
        self.lang = language
        self.rng = rng

    def entity(self) -> str:
        """One mention of a named entity, capitalised, with a case ending."""
        (index,) = self.rng.choices(range(len(ENTITIES)), cum_weights=_ENTITY_WEIGHTS)
        english, ukrainian, russian = ENTITIES[index]
        form = {"en": english, "uk": ukrainian, "ru": russian}[self.lang.code].rstrip("*")
        words = form.split()
        last = words[-1]
        if self.lang.code != "en" or english.endswith("*"):
            last += self.rng.choice(_ENDINGS[self.lang.code])
        words[-1] = last
        if words[-1].isdigit():  # "Il-76", "Іл-76"
            return words[0].capitalize() + "-" + words[-1]
        return " ".join(w[:1].upper() + w[1:] for w in words)

    def words(self, count: int) -> list[str]:
        """`count` words: mostly common, a rare tail, about 3% entity mentions."""
        rng, lang = self.rng, self.lang
        out: list[str] = []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.03:
                out.append(self.entity())
            elif roll < 0.25:
                out.extend(rng.choices(lang.rare, cum_weights=lang.rare_weights))
            else:
                out.extend(rng.choices(lang.common, cum_weights=lang.common_weights))
        return out

    def sentence(self) -> str:
        words = self.words(self.rng.randint(8, 22))
        if self.rng.random() < 0.15:
            words.append(str(self.rng.randint(2, 2026)))
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice((".", ".", ".", "?", "!"))

    def title(self) -> str:
        text = " ".join(self.words(self.rng.randint(5, 10)))
        return text[0].upper() + text[1:]

    def summary_html(self, low: int = 500, high: int = 800) -> str:
        """An HTML fragment of `low`..`high` UTF-8 bytes: paragraphs, a link, bold text."""
        target = self.rng.randint(low, high)
        text = "<p>"
        while True:
            sentence = self.sentence()
            roll = self.rng.random()
            if roll < 0.15:
                entity = self.entity()
                href = f"https://{_DOMAINS[self.lang.code]}/tag/{self.rng.randint(1, 999)}"
                sentence = f'{sentence} <a href="{href}">{entity}</a>.'
            elif roll < 0.25:
                sentence = f"<strong>{sentence}</strong>"
            elif roll < 0.32:
                sentence = sentence.replace(" ", " &#8220;", 1) + "&#8221;"
            elif roll < 0.40:
                sentence += "</p><p>"
            longer = f"{text} {sentence}" if len(text) > 3 else text + sentence
            if len(longer.encode()) + 4 > target:
                break
            text = longer
        if len(text.encode()) + 4 < low:  # pad with the start of the next sentence
            room = target - len(text.encode()) - 4
            words = self.words(room // 4)
            text += (
                " " + " ".join(words).encode()[:room].decode("utf-8", "ignore").rsplit(" ", 1)[0]
            )
        if text.endswith("<p>"):
            return text.removesuffix("<p>")
        return text + "</p>"


_LANGUAGES: dict[str, Language] = {}


def language(code: str) -> Language:
    """The vocabulary of "en", "uk" or "ru" (built once per process)."""
    if code not in _LANGUAGES:
        _LANGUAGES[code] = _language(code)
    return _LANGUAGES[code]


def feed_language(index: int) -> str:
    """Two thirds of the feeds are English; the rest Ukrainian or Russian."""
    return ("en", "en", "uk", "en", "en", "ru")[index % 6]


def rss_feed(index: int, items: int = ITEMS_PER_FEED) -> bytes:
    """Feed number `index`: an RSS 2.0 document of `items` items, about 40 KB (UTF-8)."""
    code = feed_language(index)
    rng = random.Random(f"feed-{index}")
    maker = TextMaker(language(code), rng)
    domain = f"{index}.{_DOMAINS[code]}"
    permalink_guids = index % 2 == 0
    cdata = index % 3 == 0
    newest = NOW - timedelta(minutes=rng.randint(0, 600))
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{escape(maker.title())}</title>\n<link>https://{domain}/</link>\n"
        f"<description>{escape(maker.sentence())}</description>\n<language>{code}</language>\n"
        f"<lastBuildDate>{format_datetime(newest)}</lastBuildDate>\n"
        f'<atom:link href="https://{domain}/rss" rel="self" type="application/rss+xml"/>\n'
    ]
    for n in range(items):
        number = 1_000_000 + index * 1000 + n
        published = newest - timedelta(minutes=17 * n + rng.randint(0, 9))
        slug = "-".join(rng.choices(language("en").rare, k=4))[:50]
        link = f"https://{domain}/{code}/news/{published:%Y/%m/%d}/{slug}-{number}.html"
        if n % 4 == 0:
            link += "?utm_source=rss&utm_medium=feed"
        guid = (
            f"<guid>{escape(link)}</guid>"
            if permalink_guids
            else f'<guid isPermaLink="false">{domain}-{number}</guid>'
        )
        summary = maker.summary_html()
        description = f"<![CDATA[{summary}]]>" if cdata else escape(summary)
        category = " ".join(maker.words(1)).title()
        parts.append(
            f"<item>\n<title>{escape(maker.title())}</title>\n<link>{escape(link)}</link>\n"
            f"{guid}\n<pubDate>{format_datetime(published)}</pubDate>\n"
            f"<category>{escape(category)}</category>\n"
            f"<description>{description}</description>\n</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode()


def _group(entity: tuple[str, str, str]) -> str:
    """An entity in all three languages: `(haftar OR хафтар*)`, phrases quoted."""
    english, ukrainian, russian = entity
    forms: dict[str, None] = {}
    for form, inflected in ((english, english.endswith("*")), (ukrainian, True), (russian, True)):
        words = form.rstrip("*").split()
        if inflected and len(words[-1]) >= 3 and not words[-1].isdigit():
            words[-1] += "*"  # the text gives the last word a case ending
        term = " ".join(words)
        forms[f'"{term}"' if len(words) > 1 else term] = None
    inner = " OR ".join(forms)
    return f"({inner})" if len(forms) > 1 else inner


def keyword_queries(count: int, seed: int = 7) -> list[str]:
    """`count` distinct realistic multilingual queries (groups of entities, AND/OR/NOT)."""
    rng = random.Random(seed)
    queries: dict[str, None] = {}

    def pick() -> str:
        (index,) = rng.choices(range(len(ENTITIES)), cum_weights=_ENTITY_WEIGHTS)
        return _group(ENTITIES[index])

    while len(queries) < count:
        shape = rng.random()
        if shape < 0.10:
            query = pick()
        elif shape < 0.45:
            query = f"{pick()} AND {pick()}"
        elif shape < 0.65:
            query = f"{pick()} AND ({pick()} OR {pick()})"
        elif shape < 0.80:
            query = f"{pick()} AND {pick()} AND NOT {pick()}"
        elif shape < 0.92:
            query = f"({pick()} OR {pick()}) AND {pick()} AND {pick()}"
        else:
            query = f"{pick()} AND ({pick()} OR {pick()} OR {pick()}) NOT {pick()}"
        queries[query] = None
    return list(queries)


def summary_line(sizes: Sequence[int]) -> str:
    """`1,000 feeds, 43.1 KB on average (38.2-47.9 KB)`."""
    return (
        f"{len(sizes):,} feeds, {sum(sizes) / len(sizes) / 1000:.1f} KB on average "
        f"({min(sizes) / 1000:.1f}-{max(sizes) / 1000:.1f} KB)"
    )
