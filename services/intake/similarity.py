"""Likely duplicates of a matter (重复事项): residents of one community often raise the same matter in
their own words, e.g. “绣春巷开水炉扰民” and “开水炉噪音扰民(绣春巷)”. Before a resident submits, intake
shows the matters of the same community that read alike (``GET /api/v1/intake/proposals/similar``), so
the resident can co-sign (附议) instead, and a community worker can merge them.

**Text.** Title and description are normalised: NFKC (full-width letters and digits become ASCII),
lower case, and only letters (of any script) and digits are kept; punctuation, symbols and whitespace
are dropped. Every CJK character is one token, a run of ASCII letters and digits is one token; the
features (“grams”) are the bigrams of adjacent tokens (“绣春”, “春巷”, “3号”, “楼wifi”), ASCII words of
two or more characters on their own, and a text's only token. No word segmentation, no dictionary:
character bigrams are the usual choice for short Chinese texts and survive reordering (“开水炉噪音扰民
(绣春巷)”). The index knows a gram by a 32-bit id (``gram_id``, a hash).

**Score** (``similarity``, ``score``). ``features`` maps each gram to its weight in the matter:
``TITLE_WEIGHT`` (2) if it is in the title, 1 if only in the description. The score is the mean of
two cosines, each in [0, 1]: of the whole texts' weighted grams, and of the titles' grams (the title
names the matter). In a community's index each gram's weight is further multiplied by ``telling``:
1, unless the gram is common in that community (in more than 1 % of its proposals and more than 20),
then lower, falling with the log of its frequency (居民, 希望, 解决, the lane everyone lives in). So a
small community scores exactly like the corpus-free ``similarity``, and a large one is not fooled by
boilerplate. A pair at or above ``DUPLICATE_THRESHOLD`` is a likely duplicate.

**Tables** (``duplicate_tables`` makes all three). Lists of integers are packed, 4 bytes each, in a
``bytea`` (``Integers``): a short list costs 1 byte of header where an ``integer[]`` costs 24.

- ``proposal_features(doc, proposal_id, community_code, live, titled, grams)``: each proposal the
  index knows, numbered (``doc``, a small integer), with its gram ids (the title's ``titled`` first).
  Candidates are scored from it. A removed proposal keeps its row as a mark (``live`` false, no
  grams), so indexing it later (a late or redelivered event) leaves it out.
- ``gram_posting(community_code, gram, chunk, n, appended, docs)``, primary key in that order: the
  inverted index, partitioned by community: a gram's docs, at most ``CHUNK`` to a row (appended to the
  last). Chunk 0 also counts the gram's live proposals (``n``, the document frequency) and the docs
  ever appended (``appended``, which says the last chunk). A removed proposal's docs stay in the lists
  (the look-up reads only live features) and leave the counts.
- ``duplicate_community(community_code, proposals)``: the community's live indexed proposals (N).

**Writing.** ``add_many`` indexes a burst in a few statements whatever its size (on PostgreSQL: the
features, the community counts, and the postings with the gram counts, each one statement over
arrays, rows in key order so concurrent writers lock in the same order; a touched row gets one new
version per burst); ``remove`` marks a proposal and takes its grams off the counts. Intake's worker
indexes a proposal after the transaction that stored it (``intake.proposal.submitted``); a triage
removes it in its own transaction, before or after.

**Look-up** (``DuplicateIndex.candidates``), four indexed reads whatever the community's size:
(1) N and the frequencies of the query's grams; (2) its rarest grams, at most ``QUERY_GRAMS`` and
together at most ``POSTINGS_BUDGET`` postings, are read and their docs counted (a hit weighs the
gram's weight in the query times ``ln(1 + N/df)``: rare grams, a lane's name and its boiler, tell more
than common ones), the best ``CANDIDATES`` kept; (3) those candidates' features (live only); (4) the
community's common grams (read once a minute per process, ``_common``). Proposals not indexed yet
(``unindexed``: those submitted moments ago) are scored alongside. The candidates are then scored
exactly and those at or above the threshold returned, best first.

SQLAlchemy Core; on SQLite (tests, the embedded mode) the writes are plain statements and Python.
``session`` is an ORM ``Session`` or a ``Connection``, inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import re
import sys
import time
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    any_,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
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
CHUNK = 256  # docs per row of a gram's postings (1 KB: stays in the row, no TOAST)
# A gram in more than 1 % of a community's proposals (and in more than 20) weighs less (``telling``).
COMMON_SHARE = 0.01
COMMON_MIN = 20
COMMON_FLOOR = 0.05
COMMON_SECONDS = 60.0  # a process reads a community's common grams again after this long, at the latest
COMMON_CACHED = 2_000  # communities whose common grams a process keeps

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


def grams(text: str) -> set[str]:
    """Bigrams of adjacent tokens (a CJK character, or a run of ASCII letters and digits) of the
    normalised text, ASCII words of two or more characters, and a lone token."""
    tokens = _TOKEN.findall(normalise(text))
    found = {a + b for a, b in itertools.pairwise(tokens)}
    found.update(word for word in tokens if _ASCII_WORD.fullmatch(word))
    if len(tokens) == 1:
        found.add(tokens[0])
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


def _score_weights(a: _Vectors, weights: Mapping, telling_of: Mapping) -> float:
    """``_score(a, _vectors(weights, telling_of))`` in one pass (a look-up scores a hundred candidates)."""
    text_dot = text_norm = title_dot = title_norm = 0.0
    asked_text, asked_title, weigh = a.text, a.title, telling_of.get
    for gram, value in weights.items():
        w = weigh(gram, 1.0)
        x = value * w
        text_norm += x * x
        q = asked_text.get(gram)
        if q is not None:
            text_dot += q * x
        if value >= TITLE_WEIGHT:
            title_norm += w * w
            q = asked_title.get(gram)
            if q is not None:
                title_dot += q * w
    text_cos = min(1.0, text_dot / (a.text_norm * math.sqrt(text_norm))) if a.text_norm and text_norm else 0.0
    title_cos = min(1.0, title_dot / (a.title_norm * math.sqrt(title_norm))) if a.title_norm and title_norm else 0.0
    return (text_cos + title_cos) / 2


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


# -- gram ids --------------------------------------------------------------------------------------


def gram_id(gram: str) -> int:
    """A gram's id in the index: a 32-bit hash (signed, as PostgreSQL's ``integer``). Two grams of one
    community may share an id (some pair does among tens of thousands): they then count as one gram,
    which moves a score by a hair and never lets another community's proposal in."""
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest(), "big", signed=True)


def feature_ids(title: str, description: str) -> dict[int, float]:
    """``features`` by gram id: what the index stores and scores."""
    return {gram_id(gram): weight for gram, weight in features(title, description).items()}


# -- tables ----------------------------------------------------------------------------------------


def _pack(values: Iterable[int]) -> bytes:
    """Integers as 4 bytes each, little-endian: a posting list or a proposal's gram ids."""
    packed = array("i", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _unpack(data: bytes) -> list[int]:
    packed = array("i")
    packed.frombytes(data)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tolist()


class Integers(TypeDecorator):
    """A list of integers stored packed (``_pack``: 4 bytes each) in a ``bytea``/BLOB: against an
    ``integer[]``, 1 byte of header instead of 24 for a short list, which is most posting rows."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else _pack(value)

    def process_result_value(self, value, dialect):
        return None if value is None else _unpack(value)


def proposal_features_table(metadata: MetaData) -> Table:
    """Each proposal the index knows, by a small number (``doc``): its gram ids, the title's first."""
    return Table(
        "proposal_features",
        metadata,
        Column("doc", Integer, primary_key=True, autoincrement=True),
        Column("proposal_id", String(36), nullable=False),
        Column("community_code", String(12), nullable=False),
        Column("live", Boolean, nullable=False),
        Column("titled", SmallInteger, nullable=False),
        Column("grams", Integers(), nullable=False),
        UniqueConstraint("proposal_id", name="uq_proposal_features_proposal_id"),
    )


def gram_posting_table(metadata: MetaData) -> Table:
    """The inverted index of each community: a gram's docs, ``CHUNK`` to a row; the gram's first row
    (chunk 0) also counts its live proposals (``n``) and the docs ever appended (``appended``)."""
    return Table(
        "gram_posting",
        metadata,
        Column("community_code", String(12), primary_key=True),
        Column("gram", Integer, primary_key=True, autoincrement=False),
        Column("chunk", Integer, primary_key=True, autoincrement=False),
        Column("n", Integer, nullable=False),
        Column("appended", Integer, nullable=False),
        Column("docs", Integers(), nullable=False),
    )


def duplicate_community_table(metadata: MetaData) -> Table:
    """How many live proposals of each community the index holds."""
    return Table(
        "duplicate_community",
        metadata,
        Column("community_code", String(12), primary_key=True),
        Column("proposals", Integer, nullable=False),
    )


class DuplicateTables(NamedTuple):
    features: Table
    postings: Table
    communities: Table


def duplicate_tables(metadata: MetaData) -> DuplicateTables:
    """The three tables of the duplicate index, added to ``metadata``."""
    return DuplicateTables(
        proposal_features_table(metadata), gram_posting_table(metadata), duplicate_community_table(metadata)
    )


# -- the index -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Indexed:
    """A proposal to index (``DuplicateIndex.add_many``), or one to score that is not indexed yet
    (``candidates``' ``unindexed``)."""

    proposal_id: str
    community_code: str
    title: str
    description: str


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def _postgresql(session: Session | Connection) -> bool:
    return _connection(session).dialect.name == "postgresql"


def _stored(weights: Mapping[int, float]) -> tuple[int, list[int]]:
    """(how many are the title's, the gram ids: the title's first, each part in order)."""
    title = sorted(gram for gram, weight in weights.items() if weight >= TITLE_WEIGHT)
    rest = sorted(gram for gram, weight in weights.items() if weight < TITLE_WEIGHT)
    return len(title), title + rest


def _loaded(titled: int, grams: Sequence[int]) -> dict[int, float]:
    weights = dict.fromkeys(grams[titled:], DESCRIPTION_WEIGHT)
    weights.update(dict.fromkeys(grams[:titled], TITLE_WEIGHT))
    return weights


# PostgreSQL: a burst's counts and postings each in one statement, rows in key order (so writers of one
# community lock its common grams in the same order: no deadlocks, they queue until commit).
_APPENDED = text(
    """
    SELECT p.community_code, p.gram, p.appended
    FROM unnest(CAST(:c AS varchar[]), CAST(:g AS integer[])) AS t(c, g)
    JOIN gram_posting AS p ON p.community_code = t.c AND p.gram = t.g AND p.chunk = 0
    """
)
# One new version of each row a burst touches: the counts (on chunk 0) and the docs together.
_POST = text(
    """
    INSERT INTO gram_posting AS p (community_code, gram, chunk, n, appended, docs)
    SELECT c, g, ch, k, k, d
    FROM unnest(CAST(:c AS varchar[]), CAST(:g AS integer[]), CAST(:ch AS integer[]), CAST(:k AS integer[]),
                CAST(:d AS bytea[])) AS t(c, g, ch, k, d)
    ORDER BY c, g, ch
    ON CONFLICT (community_code, gram, chunk)
        DO UPDATE SET n = p.n + excluded.n, appended = p.appended + excluded.appended, docs = p.docs || excluded.docs
    """
)
_UNCOUNT = text(
    """
    UPDATE gram_posting AS p SET n = p.n - t.k
    FROM (SELECT * FROM unnest(CAST(:c AS varchar[]), CAST(:g AS integer[]), CAST(:k AS integer[])) AS u(c, g, k)
          ORDER BY c, g) AS t
    WHERE p.community_code = t.c AND p.gram = t.g AND p.chunk = 0
    """
)


class DuplicateIndex:
    """Finds the likely duplicates of a matter among the indexed proposals of its community."""

    def __init__(self, tables: DuplicateTables, threshold: float = DUPLICATE_THRESHOLD):
        self.tables = tables
        self.threshold = threshold
        self._upserts: dict[tuple[str, str], Any] = {}
        self._common_cache: dict[tuple[str, str], tuple[float, int, dict[int, float]]] = {}

    # -- writing -----------------------------------------------------------------------------------

    def add(self, session: Session, proposal_id: str, community_code: str, title: str, description: str) -> int:
        """Index a proposal; returns 1, or 0 if the index knew it already (indexed, or removed)."""
        return self.add_many(session, [Indexed(proposal_id, community_code, title, description)])

    def add_many(self, session: Session, proposals: Iterable[Indexed]) -> int:
        """Index several proposals at once (a burst of submissions, a backfill): one statement per table
        on PostgreSQL. A proposal the index knows already, indexed or removed, is left as it is, so a
        redelivered event counts once and a matter merged or rejected before its submission was indexed
        stays out (``remove`` left its mark). Returns how many were indexed."""
        batch = sorted({p.proposal_id: p for p in proposals}.values(), key=lambda p: p.proposal_id)
        if not batch:
            return 0
        weights = {p.proposal_id: feature_ids(p.title, p.description) for p in batch}
        rows = []
        for p in batch:
            titled, grams = _stored(weights[p.proposal_id])
            rows.append(
                {"proposal_id": p.proposal_id, "community_code": p.community_code, "live": True,
                 "titled": titled, "grams": grams}
            )  # fmt: skip
        # Waits on a concurrent ``remove`` of one of them (its mark), holding no other lock of the index.
        new = dict(session.execute(self._statement(session, "add"), rows).all())
        added = [p for p in batch if p.proposal_id in new]
        if not added:
            return 0
        docs: dict[tuple[str, int], list[int]] = {}
        for p in added:
            for gram in weights[p.proposal_id]:
                docs.setdefault((p.community_code, gram), []).append(new[p.proposal_id])
        self._count_proposals(session, Counter(p.community_code for p in added))
        if _postgresql(session):
            self._post_postgresql(session, docs)
        else:
            self._post_generic(session, docs)
        return len(added)

    def _statement(self, session: Session | Connection, name: str):
        """A statement built once per dialect (compiled once, rows passed as parameters)."""
        dialect = _connection(session).dialect.name
        stmt = self._upserts.get((name, dialect))
        if stmt is None:
            insert = dialect_insert(session)
            f, c = self.tables.features, self.tables.communities
            if name == "add":
                stmt = insert(f).on_conflict_do_nothing(index_elements=[f.c.proposal_id])
                stmt = stmt.returning(f.c.proposal_id, f.c.doc)
            elif name == "remove":
                stmt = insert(f)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[f.c.proposal_id], set_={"live": False}, where=f.c.live
                ).returning(f.c.community_code, f.c.titled, f.c.grams)
            else:  # "proposals"
                stmt = insert(c)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[c.c.community_code], set_={"proposals": c.c.proposals + stmt.excluded.proposals}
                )
            self._upserts[name, dialect] = stmt
        return stmt

    def _count_proposals(self, session: Session, counts: Mapping[str, int]) -> None:
        rows = [{"community_code": code, "proposals": n} for code, n in sorted(counts.items()) if n]
        if rows:
            session.execute(self._statement(session, "proposals"), rows)

    def _post_postgresql(self, session: Session, docs: Mapping[tuple[str, int], list[int]]) -> None:
        """Append the docs to each gram's last chunk (its ``appended`` says which) and count them, in one
        statement. ``appended`` is read without a lock: a writer racing another may put a few docs too
        many in a chunk, which costs nothing; the counts stay exact."""
        keys = sorted(docs)
        appended = {
            (c, g): n for c, g, n in session.execute(_APPENDED, {"c": [c for c, _ in keys], "g": [g for _, g in keys]})
        }
        rows: dict[tuple[str, int, int], list] = {}  # (community, gram, chunk) → [count, docs]
        for key in keys:
            listed = sorted(docs[key])
            rows.setdefault((*key, 0), [0, []])[0] += len(listed)  # chunk 0 counts them, wherever they go
            for position, doc in enumerate(listed, start=appended.get(key, 0)):
                rows.setdefault((*key, position // CHUNK), [0, []])[1].append(doc)
        ordered = sorted(rows)
        columns = {
            "c": [c for c, _, _ in ordered],
            "g": [g for _, g, _ in ordered],
            "ch": [ch for _, _, ch in ordered],
            "k": [rows[key][0] for key in ordered],
            "d": [_pack(rows[key][1]) for key in ordered],
        }
        session.execute(_POST, columns)

    def _post_generic(self, session: Session, docs: Mapping[tuple[str, int], list[int]]) -> None:
        """The same on SQLite (one writer at a time): read the chunks written to, write them back."""
        postings = self.tables.postings
        for community_code, gram in sorted(docs):
            listed = sorted(docs[community_code, gram])
            key = (postings.c.community_code == community_code, postings.c.gram == gram)
            head = session.execute(select(postings.c.n, postings.c.appended).where(*key, postings.c.chunk == 0)).first()
            n, appended = head if head else (0, 0)
            if head is None:
                session.execute(postings.insert().values(community_code=community_code, gram=gram, chunk=0, n=0,
                                                         appended=0, docs=[]))  # fmt: skip
            session.execute(
                postings.update().where(*key, postings.c.chunk == 0).values(n=n + len(listed),
                                                                            appended=appended + len(listed))
            )  # fmt: skip
            for chunk, part in itertools.groupby(enumerate(listed, start=appended), key=lambda item: item[0] // CHUNK):
                added = [doc for _, doc in part]
                found = session.execute(select(postings.c.docs).where(*key, postings.c.chunk == chunk)).scalar()
                if found is None:
                    session.execute(postings.insert().values(community_code=community_code, gram=gram, chunk=chunk,
                                                             n=0, appended=0, docs=added))  # fmt: skip
                else:
                    session.execute(postings.update().where(*key, postings.c.chunk == chunk).values(docs=found + added))

    def remove(self, session: Session, proposal_id: str, community_code: str) -> None:
        """Stop suggesting a proposal (merged, rejected), for good: if it is not indexed yet, its mark
        keeps it out when its submission comes to be indexed (``add_many``). Twice is harmless."""
        self.remove_many(session, [(proposal_id, community_code)])

    def remove_many(self, session: Session, proposals: Sequence[tuple[str, str]]) -> None:
        """``remove`` for several (proposal id, community code) pairs."""
        features_table = self.tables.features
        counts: Counter[tuple[str, int]] = Counter()
        gone: Counter[str] = Counter()
        for proposal_id, community_code in sorted(set(proposals)):
            mark = {"proposal_id": proposal_id, "community_code": community_code, "live": False, "titled": 0,
                    "grams": []}  # fmt: skip
            # The row after the upsert: a fresh mark (no grams), or the live row just marked (its grams).
            row = session.execute(self._statement(session, "remove"), mark).first()
            if row is None or not row.grams:
                continue
            session.execute(
                features_table.update().where(features_table.c.proposal_id == proposal_id).values(titled=0, grams=[])
            )
            gone[row.community_code] -= 1
            counts.update(dict.fromkeys(((row.community_code, gram) for gram in row.grams), 1))
        if not counts:
            return
        self._count_proposals(session, gone)
        keys = sorted(counts)
        if _postgresql(session):
            session.execute(
                _UNCOUNT, {"c": [c for c, _ in keys], "g": [g for _, g in keys], "k": [counts[k] for k in keys]}
            )
            return
        postings = self.tables.postings
        for community_code, gram in keys:
            session.execute(
                postings.update()
                .where(postings.c.community_code == community_code, postings.c.gram == gram, postings.c.chunk == 0)
                .values(n=postings.c.n - counts[community_code, gram])
            )

    # -- reading -----------------------------------------------------------------------------------

    def candidates(
        self,
        session: Session | Connection,
        community_code: str,
        title: str,
        description: str,
        limit: int = 5,
        exclude_ids: Iterable[str] = (),
        unindexed: Iterable[Indexed] = (),
    ) -> list[Match]:
        """The proposals of ``community_code`` most like this matter, best first, each scoring at least
        the threshold; at most ``limit``. Those indexed are looked up; ``unindexed`` ones (submitted
        moments ago, not indexed yet) are scored too. ``exclude_ids`` are never returned."""
        query = feature_ids(title, description)
        if not query or limit <= 0:
            return []
        excluded = set(exclude_ids)
        proposals = self.proposals(session, community_code)
        frequency = self._frequencies(session, community_code, query) if proposals else {}
        found = self._looked_up(session, community_code, query, proposals, frequency, excluded)
        for p in unindexed:
            if p.community_code == community_code and p.proposal_id not in excluded and p.proposal_id not in found:
                found[p.proposal_id] = feature_ids(p.title, p.description)
        if not found:
            return []
        return self._best(session, community_code, query, proposals, frequency, found, limit)

    def _best(self, session, community_code: str, query: Mapping[int, float], proposals: int,
              frequency: Mapping[int, int], found: Mapping[str, Mapping[int, float]],
              limit: int) -> list[Match]:  # fmt: skip
        """The ``limit`` best of ``found`` at or above the threshold. Every gram weighs ``telling`` in the
        community: the query's from their frequencies, the candidates' others from the community's
        common grams (``_common``)."""
        common = int(max(COMMON_MIN, COMMON_SHARE * proposals))
        telling_of = {}
        if proposals > common:
            telling_of = dict(self._common(session, community_code, proposals, common))
            for gram in query:
                telling_of.pop(gram, None)
            telling_of.update((gram, telling(proposals, n)) for gram, n in frequency.items() if n > common)
        asked = _vectors(query, telling_of)
        matches = [Match(proposal_id, _score_weights(asked, grams, telling_of)) for proposal_id, grams in found.items()]
        matches = [match for match in matches if match.score >= self.threshold]
        return sorted(matches, key=lambda match: (-match.score, match.proposal_id))[:limit]

    def _common(self, session, community_code: str, proposals: int, common: int) -> Mapping[int, float]:
        """The community's common grams (in more than ``common`` of its ``proposals``) with their
        weights, read at most every ``COMMON_SECONDS`` per process, or again once the community grew or
        shrank by ``COMMON_SHARE``: they change slowly, and a weight a little behind moves a score by a
        hair (the query's own grams are always weighed from their current frequencies)."""
        key = (_connection(session).engine.url.render_as_string(), community_code)
        cached = self._common_cache.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < COMMON_SECONDS and abs(cached[1] - proposals) <= COMMON_SHARE * cached[1]:
            return cached[2]
        p = self.tables.postings.c
        rows = session.execute(
            select(p.gram, p.n).where(p.community_code == community_code, p.chunk == 0, p.n > common)
        )
        weights = {gram: telling(proposals, n) for gram, n in rows}
        if len(self._common_cache) >= COMMON_CACHED:
            self._common_cache.pop(next(iter(self._common_cache)))
        self._common_cache[key] = (now, proposals, weights)
        return weights

    def proposals(self, session: Session | Connection, community_code: str) -> int:
        """How many live proposals of the community are indexed."""
        c = self.tables.communities.c
        return session.execute(select(c.proposals).where(c.community_code == community_code)).scalar() or 0

    def _looked_up(self, session, community_code: str, query: Mapping[int, float], proposals: int,
                   frequency: Mapping[int, int], excluded: set[str]) -> dict[str, dict[int, float]]:  # fmt: skip
        """The indexed proposals sharing most of the query's rarest grams (at most ``CANDIDATES``, each
        hit weighing the gram's weight in the query times ``ln(1 + N/df)``), with their grams."""
        chosen, postings = [], 0
        # Rarest first; a title gram counts as half as common, for it names the matter.
        for gram, n in sorted(frequency.items(), key=lambda item: (item[1] / query[item[0]], item[0])):
            if len(chosen) == QUERY_GRAMS or postings + n > POSTINGS_BUDGET:
                break
            chosen.append(gram)
            postings += n
        if not chosen:
            return {}
        weight = {gram: query[gram] * math.log(1 + proposals / frequency[gram]) for gram in chosen}
        wanted = CANDIDATES + len(excluded)
        p = self.tables.postings.c
        tally: dict[int, float] = {}
        for gram, listed in session.execute(
            select(p.gram, p.docs).where(p.community_code == community_code, self._among(session, p.gram, chosen))
        ):
            hit = weight[gram]
            for doc in listed:
                tally[doc] = tally.get(doc, 0.0) + hit
        docs = heapq.nsmallest(wanted, tally, key=lambda doc: (-tally[doc], doc))
        if not docs:
            return {}
        f = self.tables.features.c
        rows = session.execute(
            select(f.proposal_id, f.titled, f.grams).where(f.doc.in_(docs), f.live, f.community_code == community_code)
        )
        return {
            proposal_id: _loaded(titled, grams) for proposal_id, titled, grams in rows if proposal_id not in excluded
        }

    def _frequencies(self, session, community_code: str, grams: Iterable[int], above: int = 0) -> dict[int, int]:
        """Document frequency of each of ``grams`` that more than ``above`` live indexed proposals of the
        community have."""
        wanted = sorted(set(grams))
        if not wanted:
            return {}
        p = self.tables.postings.c
        among = self._among(session, p.gram, wanted)
        rows = session.execute(
            select(p.gram, p.n).where(p.community_code == community_code, p.chunk == 0, among, p.n > above)
        )
        return dict(rows.all())

    @staticmethod
    def _among(session, column, values: list[int]):
        """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter however many values."""
        if _postgresql(session):
            return column == any_(bindparam("among", values, type_=postgresql.ARRAY(Integer)))
        return column.in_(values)
