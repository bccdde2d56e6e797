"""Likely duplicates of a matter (重复事项): residents of one community often raise the same matter in
their own words, e.g. “绣春巷开水炉扰民” and “开水炉噪音扰民(绣春巷)”. On submit, intake shows the
matters of the same community that read alike, so a resident can co-sign (附议) instead, and a
community worker can merge them.

**Text.** Title and description are normalised: NFKC (full-width letters and digits become ASCII),
lower case, and only letters (of any script) and digits are kept; punctuation, symbols and whitespace
are dropped. Every CJK character is one token, a run of ASCII letters and digits is one token; the
features (“grams”) are the bigrams of adjacent tokens (“绣春”, “春巷”, “3号”, “楼wifi”), ASCII words of
two or more characters on their own, and a text's only token. No word segmentation, no dictionary:
character bigrams are the usual choice for short Chinese texts and survive reordering (“开水炉噪音扰民
(绣春巷)”). A gram longer than 8 characters (only long ASCII words) is replaced by a short hash.

**Score** (``similarity``, ``score``). ``features`` maps each gram to its weight in the matter:
``TITLE_WEIGHT`` (2) if it is in the title, 1 if only in the description. The score is the mean of
two cosines, each in [0, 1]: of the whole texts' weighted grams, and of the titles' grams (the title
names the matter). In a community's index each gram's weight is further multiplied by ``telling``:
1, unless the gram is common in that community (in more than 1 % of its proposals and more than 20),
then lower, falling with the log of its frequency (居民, 希望, 解决, the lane everyone lives in). So a
small community scores exactly like the corpus-free ``similarity``, and a large one is not fooled by
boilerplate. A pair at or above ``DUPLICATE_THRESHOLD`` is a likely duplicate.

**Tables** (functions taking a ``MetaData``; ``duplicate_tables`` makes all three):

- ``proposal_gram(community_code, gram, proposal_id)``, primary key in that order: the inverted
  index; a gram's proposals in a community are a range of the primary key.
- ``gram_frequency(community_code, gram, n)``, primary key ``(community_code, gram)``, index
  ``(community_code, n)``: in how many indexed proposals of the community a gram occurs; the row with
  the empty gram (``PROPOSALS``) counts the community's indexed proposals. ``add`` and ``remove`` keep
  it with one upsert, rows in key order (concurrent writers lock in the same order: no deadlocks, but
  writers of one community queue on its common grams until commit). Counts may fall to 0 and stay.
- ``proposal_features(proposal_id, community_code, title_grams, text_grams)``: each indexed
  proposal's grams, space-separated (the title's; those only in the description). Candidates are
  scored from it, and ``remove`` finds the index rows to delete from it.

**Look-up** (``DuplicateIndex.candidates``), four indexed reads whatever the community's size:
(1) the frequencies of the query's grams; (2) its rarest grams, at most ``QUERY_GRAMS`` and together
at most ``POSTINGS_BUDGET`` index rows, are looked up: ``SELECT proposal_id, sum(<weight of the gram>)
FROM proposal_gram WHERE community_code = :c AND gram IN (…) GROUP BY proposal_id ORDER BY 2 DESC LIMIT
CANDIDATES`` (a hit weighs the gram's weight in the query times ``ln(1 + N/df)``: rare grams, a lane's
name and its boiler, tell more than common ones); (3) those candidates' ``proposal_features`` rows;
(4) the community's common grams (``n`` above the share, through the ``(community_code, n)`` index).
The candidates are then scored exactly and those at or above the threshold returned, best first.

SQLAlchemy Core; the same statements on SQLite and PostgreSQL, except that ``add_many`` writes rows
with COPY on PostgreSQL (psycopg's executemany sends one INSERT per row; COPY is ~4× faster for a
backfill). ``session`` is an ORM ``Session`` or a ``Connection``, inside the caller's transaction:
index a proposal in the transaction that stores it, ``remove`` it in the one that merges or rejects it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, case, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shared.sql import dialect_insert

TITLE_WEIGHT = 2.0
DESCRIPTION_WEIGHT = 1.0
# Tuned on the seed report's matters in residents' words (tests/unit/test_similarity.py): two wordings
# of one matter score 0.50-0.55, other matters of the same lane 0.22-0.29, unrelated matters below 0.1.
DUPLICATE_THRESHOLD = 0.4
QUERY_GRAMS = 24  # rarest grams of the query looked up in the index
POSTINGS_BUDGET = 20_000  # at most this many index rows read per look-up
CANDIDATES = 100  # proposals scored exactly per look-up
GRAM_LENGTH = 8
# A gram in more than 1 % of a community's proposals (and in more than 20) weighs less (``telling``).
COMMON_SHARE = 0.01
COMMON_MIN = 20
COMMON_FLOOR = 0.05
PROPOSALS = ""  # gram_frequency's row counting the community's indexed proposals (no gram is empty)

_TOKEN = re.compile(r"[a-z0-9]+|.", re.DOTALL)
_ASCII_WORD = re.compile(r"[a-z0-9]{2,}")


class Match(NamedTuple):
    proposal_id: str
    score: float


# -- text ------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """NFKC, lower case, and only letters (of any script) and digits: punctuation, symbols and
    whitespace are dropped, so “「红光市场」３号楼 ＷｉＦｉ！” reads “红光市场3号楼wifi”."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if unicodedata.category(ch)[0] in "LN")


def _fit(gram: str) -> str:
    if len(gram) <= GRAM_LENGTH:
        return gram
    return "#" + hashlib.blake2b(gram.encode(), digest_size=4).hexdigest()[: GRAM_LENGTH - 1]


def grams(text: str) -> set[str]:
    """Bigrams of adjacent tokens (a CJK character, or a run of ASCII letters and digits) of the
    normalised text, ASCII words of two or more characters, and a lone token."""
    tokens = _TOKEN.findall(normalise(text))
    found = {_fit(a + b) for a, b in itertools.pairwise(tokens)}
    found.update(_fit(word) for word in tokens if _ASCII_WORD.fullmatch(word))
    if len(tokens) == 1:
        found.add(_fit(tokens[0]))
    return found


def features(title: str, description: str) -> dict[str, float]:
    """Gram → weight: ``TITLE_WEIGHT`` for the title's grams, ``DESCRIPTION_WEIGHT`` for the rest."""
    weights = dict.fromkeys(grams(description), DESCRIPTION_WEIGHT)
    weights.update(dict.fromkeys(grams(title), TITLE_WEIGHT))
    return weights


def telling(proposals: int, frequency: int) -> float:
    """How telling a gram is that ``frequency`` of a community's ``proposals`` contain, in (0, 1]: 1 unless
    it is common, i.e. in more than ``COMMON_SHARE`` of them (and more than ``COMMON_MIN``); then it falls
    with the log of its frequency to ``COMMON_FLOOR`` for a gram every proposal has (居民, 希望, 解决)."""
    common = max(COMMON_MIN, COMMON_SHARE * proposals)
    if frequency <= common:
        return 1.0
    return max(COMMON_FLOOR, math.log((1 + proposals) / (1 + frequency)) / math.log((1 + proposals) / (1 + common)))


class _Vectors(NamedTuple):
    """A matter's whole text and its title as weighted vectors, with their norms."""

    text: dict[str, float]
    text_norm: float
    title: dict[str, float]
    title_norm: float


def _vectors(weights: Mapping[str, float], telling_of: Mapping[str, float] | None) -> _Vectors:
    def w(gram: str) -> float:
        return telling_of.get(gram, 1.0) if telling_of else 1.0

    text = {gram: value * w(gram) for gram, value in weights.items()}
    title = {gram: w(gram) for gram, value in weights.items() if value >= TITLE_WEIGHT}
    return _Vectors(
        text, math.sqrt(sum(v * v for v in text.values())), title, math.sqrt(sum(v * v for v in title.values()))
    )


def _cosine(a: Mapping[str, float], a_norm: float, b: Mapping[str, float], b_norm: float) -> float:
    if not a_norm or not b_norm:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return min(1.0, sum(value * b[gram] for gram, value in a.items() if gram in b) / (a_norm * b_norm))


def _score(a: _Vectors, b: _Vectors) -> float:
    return (
        _cosine(a.text, a.text_norm, b.text, b.text_norm) + _cosine(a.title, a.title_norm, b.title, b.title_norm)
    ) / 2


def score(a: Mapping[str, float], b: Mapping[str, float], telling_of: Mapping[str, float] | None = None) -> float:
    """The similarity of two ``features`` maps, in [0, 1]: the mean of the cosines of the whole texts and
    of the titles, each gram weighted by ``telling_of`` (gram → ``telling``; missing grams and ``None``: 1)."""
    if not a or not b:
        return 0.0
    return _score(_vectors(a, telling_of), _vectors(b, telling_of))


def similarity(
    a_title: str,
    a_description: str,
    b_title: str,
    b_description: str,
    telling_of: Mapping[str, float] | None = None,
) -> float:
    """How alike two matters read, in [0, 1]; ``DUPLICATE_THRESHOLD`` and above is a likely duplicate.
    Without ``telling_of`` every gram weighs 1, as in a community where no gram is common yet."""
    return score(features(a_title, a_description), features(b_title, b_description), telling_of)


# -- tables ----------------------------------------------------------------------------------------


def gram_table(metadata: MetaData) -> Table:
    """The inverted index: which proposals of a community contain a gram."""
    return Table(
        "proposal_gram",
        metadata,
        Column("community_code", String(12), primary_key=True),
        Column("gram", String(GRAM_LENGTH), primary_key=True),
        Column("proposal_id", String(36), primary_key=True),
    )


def gram_frequency_table(metadata: MetaData) -> Table:
    """In how many indexed proposals of a community a gram occurs."""
    return Table(
        "gram_frequency",
        metadata,
        Column("community_code", String(12), primary_key=True),
        Column("gram", String(GRAM_LENGTH), primary_key=True),
        Column("n", Integer, nullable=False),
        Index("ix_gram_frequency_common", "community_code", "n"),
    )


def proposal_features_table(metadata: MetaData) -> Table:
    """Each indexed proposal's grams, space-separated: the title's, and those only in the description."""
    return Table(
        "proposal_features",
        metadata,
        Column("proposal_id", String(36), primary_key=True),
        Column("community_code", String(12), nullable=False),
        Column("title_grams", Text, nullable=False),
        Column("text_grams", Text, nullable=False),
    )


class DuplicateTables(NamedTuple):
    grams: Table
    frequencies: Table
    features: Table


def duplicate_tables(metadata: MetaData) -> DuplicateTables:
    """The three tables of the duplicate index, added to ``metadata``."""
    return DuplicateTables(gram_table(metadata), gram_frequency_table(metadata), proposal_features_table(metadata))


# -- the index -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Indexed:
    """A proposal to index: ``DuplicateIndex.add_many`` takes these."""

    proposal_id: str
    community_code: str
    title: str
    description: str


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def _insert(session: Session | Connection, table: Table, rows: list[dict[str, str]]) -> None:
    """Insert ``rows`` in the session's transaction: an executemany, or on PostgreSQL a COPY, several times
    faster for the thousands of index rows of a backfill (psycopg's executemany sends one INSERT per row)."""
    if not rows:
        return
    connection = _connection(session)
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    from psycopg import sql  # only on PostgreSQL, whose driver this is

    columns = list(rows[0])
    name = sql.Identifier(*([table.schema] if table.schema else []), table.name)
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(name, sql.SQL(", ").join(map(sql.Identifier, columns)))
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(copy) as stream:
        for row in rows:
            stream.write_row([row[column] for column in columns])


def _stored(weights: Mapping[str, float]) -> tuple[str, str]:
    title = sorted(gram for gram, weight in weights.items() if weight >= TITLE_WEIGHT)
    text = sorted(gram for gram, weight in weights.items() if weight < TITLE_WEIGHT)
    return " ".join(title), " ".join(text)


def _loaded(title_grams: str, text_grams: str) -> dict[str, float]:
    weights = dict.fromkeys(text_grams.split(), DESCRIPTION_WEIGHT)
    weights.update(dict.fromkeys(title_grams.split(), TITLE_WEIGHT))
    return weights


class DuplicateIndex:
    """Finds the likely duplicates of a matter among the indexed proposals of its community."""

    def __init__(self, tables: DuplicateTables, threshold: float = DUPLICATE_THRESHOLD):
        self.tables = tables
        self.threshold = threshold
        self._upserts: dict[str, Any] = {}

    def add(self, session: Session, proposal_id: str, community_code: str, title: str, description: str) -> None:
        """Index a proposal (again, if it was: its old grams are replaced)."""
        self.add_many(session, [Indexed(proposal_id, community_code, title, description)])

    def add_many(self, session: Session, proposals: Iterable[Indexed]) -> int:
        """Index several proposals at once (a backfill: one write per table, plus the removal of those
        already indexed); returns how many."""
        batch = list({p.proposal_id: p for p in proposals}.values())
        if not batch:
            return 0
        self.remove_many(session, [p.proposal_id for p in batch])
        feature_rows, gram_rows = [], []
        counts: Counter[tuple[str, str]] = Counter()
        for p in batch:
            weights = features(p.title, p.description)
            title_grams, text_grams = _stored(weights)
            feature_rows.append(
                {
                    "proposal_id": p.proposal_id,
                    "community_code": p.community_code,
                    "title_grams": title_grams,
                    "text_grams": text_grams,
                }
            )
            for gram in weights:
                gram_rows.append({"community_code": p.community_code, "gram": gram, "proposal_id": p.proposal_id})
                counts[p.community_code, gram] += 1
            counts[p.community_code, PROPOSALS] += 1
        _insert(session, self.tables.features, feature_rows)
        _insert(session, self.tables.grams, gram_rows)
        self._count(session, counts)
        return len(batch)

    def remove(self, session: Session, proposal_id: str) -> None:
        """Stop suggesting a proposal (merged, rejected, withdrawn). Nothing happens if it is not indexed."""
        self.remove_many(session, [proposal_id])

    def remove_many(self, session: Session, proposal_ids: Sequence[str]) -> None:
        """``remove`` for several proposals."""
        features_table, grams_table = self.tables.features, self.tables.grams
        rows = session.execute(
            select(
                features_table.c.proposal_id,
                features_table.c.community_code,
                features_table.c.title_grams,
                features_table.c.text_grams,
            ).where(features_table.c.proposal_id.in_(proposal_ids))
        ).all()
        if not rows:
            return
        counts: Counter[tuple[str, str]] = Counter()
        for proposal_id, community_code, title_grams, text_grams in rows:
            stored = sorted(_loaded(title_grams, text_grams))
            counts.update(dict.fromkeys(((community_code, gram) for gram in stored), -1))
            counts[community_code, PROPOSALS] -= 1
            if stored:
                session.execute(
                    delete(grams_table).where(
                        grams_table.c.community_code == community_code,
                        grams_table.c.gram.in_(stored),
                        grams_table.c.proposal_id == proposal_id,
                    )
                )
        session.execute(delete(features_table).where(features_table.c.proposal_id.in_([row[0] for row in rows])))
        self._count(session, counts)

    def _count(self, session: Session, counts: Mapping[tuple[str, str], int]) -> None:
        """Add ``counts`` to the document frequencies, in key order (the same lock order for everyone)."""
        if not counts:
            return
        rows = [{"community_code": c, "gram": g, "n": n} for (c, g), n in sorted(counts.items()) if n]
        if rows:
            session.execute(self._upsert(session), rows)

    def _upsert(self, session: Session):
        """The counters' upsert, built once per dialect (compiled once, rows passed as parameters)."""
        dialect = session.bind.dialect.name
        stmt = self._upserts.get(dialect)
        if stmt is None:
            frequencies = self.tables.frequencies
            stmt = dialect_insert(session)(frequencies)
            stmt = self._upserts[dialect] = stmt.on_conflict_do_update(
                index_elements=[frequencies.c.community_code, frequencies.c.gram],
                set_={"n": frequencies.c.n + stmt.excluded.n},
            )
        return stmt

    def candidates(
        self,
        session: Session | Connection,
        community_code: str,
        title: str,
        description: str,
        limit: int = 5,
        exclude_ids: Iterable[str] = (),
    ) -> list[Match]:
        """The indexed proposals of ``community_code`` most like this matter, best first, each scoring at
        least the threshold; at most ``limit``. ``exclude_ids`` are never returned (e.g. the proposal
        itself)."""
        query = features(title, description)
        if not query or limit <= 0:
            return []
        frequency = self._frequencies(session, community_code, [PROPOSALS, *query])
        proposals = frequency.pop(PROPOSALS, 0)
        # Rarest first; a title gram counts as half as common, for it names the matter.
        chosen, postings = [], 0
        for gram, n in sorted(frequency.items(), key=lambda item: (item[1] / query[item[0]], item[0])):
            if len(chosen) == QUERY_GRAMS or postings + n > POSTINGS_BUDGET:
                break
            chosen.append(gram)
            postings += n
        if not chosen:
            return []
        grams_table, features_table = self.tables.grams, self.tables.features
        # Each hit counts by how telling the gram is in the query: its weight there times its rarity.
        hits = func.sum(
            case(
                {gram: query[gram] * math.log(1 + proposals / frequency[gram]) for gram in chosen},
                value=grams_table.c.gram,
            )
        ).label("hits")
        lookup = (
            select(grams_table.c.proposal_id, hits)
            .where(grams_table.c.community_code == community_code, grams_table.c.gram.in_(chosen))
            .group_by(grams_table.c.proposal_id)
            .order_by(hits.desc(), grams_table.c.proposal_id)
            .limit(CANDIDATES)
        )
        excluded = list(exclude_ids)
        if excluded:
            lookup = lookup.where(grams_table.c.proposal_id.not_in(excluded))
        ids = [row[0] for row in session.execute(lookup)]
        if not ids:
            return []
        found = {
            proposal_id: _loaded(title_grams, text_grams)
            for proposal_id, title_grams, text_grams in session.execute(
                select(features_table.c.proposal_id, features_table.c.title_grams, features_table.c.text_grams).where(
                    features_table.c.proposal_id.in_(ids), features_table.c.community_code == community_code
                )
            )
        }
        telling_of = self._common(session, community_code, proposals)
        asked = _vectors(query, telling_of)
        matches = [
            Match(proposal_id, _score(asked, _vectors(grams, telling_of))) for proposal_id, grams in found.items()
        ]
        matches = [match for match in matches if match.score >= self.threshold]
        matches.sort(key=lambda match: (-match.score, match.proposal_id))
        return matches[:limit]

    def _common(self, session: Session | Connection, community_code: str, proposals: int) -> dict[str, float]:
        """The community's common grams, each with its weight (``telling``); every other gram weighs 1."""
        frequencies = self.tables.frequencies
        rows = session.execute(
            select(frequencies.c.gram, frequencies.c.n).where(
                frequencies.c.community_code == community_code,
                frequencies.c.n > int(max(COMMON_MIN, COMMON_SHARE * proposals)),
                frequencies.c.gram != PROPOSALS,
            )
        )
        return {gram: telling(proposals, n) for gram, n in rows}

    def _frequencies(self, session: Session | Connection, community_code: str, grams: Iterable[str]) -> dict[str, int]:
        """Document frequency of each of ``grams`` that some indexed proposal of the community contains."""
        wanted = sorted(grams)
        if not wanted:
            return {}
        frequencies = self.tables.frequencies
        rows = session.execute(
            select(frequencies.c.gram, frequencies.c.n).where(
                frequencies.c.community_code == community_code,
                frequencies.c.gram.in_(wanted),
                frequencies.c.n > 0,
            )
        )
        return {gram: n for gram, n in rows}
