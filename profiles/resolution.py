"""Identity resolution: which incoming records and existing subjects are one person, and why.

Pure and deterministic: the caller loads what the database knows (who holds each identifier, the
evidence of each candidate subject) and applies the resulting plan. Rules, strongest first:

1. ``external_id``: the same record of the same source (an update), always followed;
2. ``cpf``: a valid CPF;
3. ``verified_email``: an email verified by double opt-in, at the source or in the record;
4. ``email``;
5. ``phone`` (E.164).

Contact points are shared in real life (a family email, a household landline, a switchboard, an
assistant booking for a manager), so every link is checked against the evidence of the two whole
clusters it would join, not only the record at hand: two different CPFs, different birth dates or
clearly different given names veto it (for a CPF link, only names and birth dates together). An
identifier value already held by more than ``max_shared`` clusters never links on its own, and
blocked values (role addresses, test numbers) never link at all. Transitive closure happens only
through links that passed these checks. Weak evidence is never a merge: it becomes a suggestion.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rapidfuzz.distance import JaroWinkler

from .records import Name

RULES = ("external_id", "cpf", "verified_email", "email", "phone")
RULE_KINDS = {"cpf": "cpf", "verified_email": "email", "email": "email", "phone": "phone"}
GIVEN_NAME_SIMILARITY = 0.88
MAX_NAMES = 12

Node = tuple[str, object]  # ("s", subject uuid) or ("r", record position)
Key = tuple[str, str, bytes]  # (kind, namespace, blind index)


def names_compatible(first: Name, second: Name) -> bool:
    """Could these be one person's names? Family names change (marriage); given names do not.

    Compatible when the given names are the same or close (a typo), or one given name appears among
    the other's names ("Maria" and "Ana Maria Costa").
    """
    if first.given == second.given or first.given in second.family or second.given in first.family:
        return True
    return JaroWinkler.similarity(first.given, second.given) >= GIVEN_NAME_SIMILARITY


def birth_dates_compatible(first: dt.date, second: dt.date) -> bool:
    # Day and month swapped is a typing slip, not another person.
    return first == second or (first.year == second.year and (first.day, first.month) == (second.month, second.day))


@dataclass
class Evidence:
    """What is known of a cluster (a record, a subject, or several joined): enough to veto a link."""

    cpfs: set[bytes] = field(default_factory=set)
    names: list[Name] = field(default_factory=list)
    birth_dates: set[dt.date] = field(default_factory=set)
    subjects: set[uuid.UUID] = field(default_factory=set)
    blocked: set[uuid.UUID] = field(default_factory=set)

    def absorb(self, other: Evidence) -> None:
        self.cpfs |= other.cpfs
        for name in other.names:
            if name not in self.names and len(self.names) < MAX_NAMES:
                self.names.append(name)
        self.birth_dates |= other.birth_dates
        self.subjects |= other.subjects
        self.blocked |= other.blocked


def veto(first: Evidence, second: Evidence, rule: str) -> str | None:
    """Why joining these two clusters by ``rule`` would be wrong, or None."""
    if first.blocked & second.subjects or second.blocked & first.subjects:
        return "blocked_pair"
    if rule == "external_id":
        return None
    if first.cpfs and second.cpfs and first.cpfs.isdisjoint(second.cpfs):
        return "different_cpf"
    birth_conflict = bool(
        first.birth_dates
        and second.birth_dates
        and not any(birth_dates_compatible(a, b) for a in first.birth_dates for b in second.birth_dates)
    )
    names_conflict = bool(
        first.names and second.names and not any(names_compatible(a, b) for a in first.names for b in second.names)
    )
    if rule == "cpf":
        # A valid CPF identifies a person; only a different name AND birth date make it a typo.
        return "different_name_and_birth_date" if names_conflict and birth_conflict else None
    # An address confirmed by double opt-in belongs to whoever confirmed it; names are looser there.
    if names_conflict and rule != "verified_email":
        return "different_name"
    return "different_birth_date" if birth_conflict else None


@dataclass(frozen=True)
class IncomingRecord:
    position: int
    keys: dict[str, list[Key]]  # rule -> identifier keys
    evidence: Evidence
    existing_subject: uuid.UUID | None = None


@dataclass(frozen=True)
class LinkReason:
    rule: str
    kind: str
    vetoes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edge:
    """A union of two clusters that each held existing subjects: a merge the plan must record."""

    rule: str
    kind: str
    records: tuple[int, ...]
    left: frozenset[uuid.UUID]
    right: frozenset[uuid.UUID]


@dataclass(frozen=True)
class VetoedLink:
    rule: str
    kind: str
    record: int
    other: Node
    reason: str


@dataclass
class Cluster:
    records: list[int]
    subjects: list[uuid.UUID]


@dataclass
class Plan:
    clusters: list[Cluster]
    reasons: dict[int, LinkReason]
    edges: list[Edge]
    vetoed: list[VetoedLink]
    too_shared: set[Key]
    blocked_values: set[Key]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Node, Node] = {}
        self.evidence: dict[Node, Evidence] = {}

    def add(self, node: Node, evidence: Evidence) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.evidence[node] = evidence

    def find(self, node: Node) -> Node:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, first: Node, second: Node) -> Node:
        root_a, root_b = self.find(first), self.find(second)
        if root_a == root_b:
            return root_a
        self.parent[root_b] = root_a
        self.evidence[root_a].absorb(self.evidence.pop(root_b))
        return root_a


class _Resolution:
    def __init__(
        self,
        records: list[IncomingRecord],
        subjects: dict[uuid.UUID, Evidence],
        subject_order: Callable[[uuid.UUID], object],
    ) -> None:
        self.records = records
        self.subject_order = subject_order
        self.uf = _UnionFind()
        for subject_id, evidence in subjects.items():
            self.uf.add(("s", subject_id), _copy(evidence))
        for record in records:
            self.uf.add(("r", record.position), _copy(record.evidence))
        self.reasons: dict[int, LinkReason] = {}
        self.edges: list[Edge] = []
        self.vetoed: list[VetoedLink] = []
        self.vetoes_seen: dict[int, list[str]] = {}

    def join(self, first: Node, second: Node, rule: str, kind: str) -> str | None:
        """Union two clusters unless their evidence vetoes it; returns the veto, or None once joined."""
        root_a, root_b = self.uf.find(first), self.uf.find(second)
        if root_a == root_b:
            return None
        reason = veto(self.uf.evidence[root_a], self.uf.evidence[root_b], rule)
        if reason:
            return reason
        left, right = frozenset(self.uf.evidence[root_a].subjects), frozenset(self.uf.evidence[root_b].subjects)
        self.uf.union(root_a, root_b)
        if left and right:
            carrying = tuple(node[1] for node in (first, second) if node[0] == "r")
            self.edges.append(Edge(rule, kind, carrying, left, right))  # type: ignore[arg-type]
        return None

    def link_group(self, nodes: list[Node], rule: str, kind: str) -> None:
        """Nodes sharing one identifier value: each joins the first compatible group, or starts one."""
        groups: list[Node] = []
        for node in nodes:
            for group in groups:
                reason = self.join(group, node, rule, kind)
                if reason is None:
                    for tag, position in (node, group):
                        if tag == "r" and position not in self.reasons:
                            self.reasons[position] = LinkReason(rule, kind)  # type: ignore[index]
                    break
                self._record_veto(node, group, rule, kind, reason)
            else:
                groups.append(node)

    def _record_veto(self, node: Node, group: Node, rule: str, kind: str, reason: str) -> None:
        for tag, position in (node, group):
            if tag == "r":
                self.vetoes_seen.setdefault(position, []).append(f"{rule}:{reason}")  # type: ignore[arg-type]
        record_node, other = (node, group) if node[0] == "r" else (group, node)
        if record_node[0] == "r":
            self.vetoed.append(VetoedLink(rule, kind, record_node[1], other, reason))  # type: ignore[arg-type]

    def participants(self, rule: str, holders: dict[Key, set[uuid.UUID]]) -> dict[Key, list[Node]]:
        """Who shares each identifier value for ``rule``: holding subjects first (oldest first), then records."""
        kind = RULE_KINDS[rule]
        found: dict[Key, list[Node]] = {}
        for key, holder_ids in holders.items():
            if key[0] == kind:
                found.setdefault(key, []).extend(("s", s) for s in sorted(holder_ids, key=self.subject_order))
        for record in self.records:
            for key in record.keys.get(rule, []):
                found.setdefault(key, []).append(("r", record.position))
        return found

    def clusters(self) -> list[Cluster]:
        clusters: dict[Node, Cluster] = {}
        for node in self.uf.parent:
            cluster = clusters.setdefault(self.uf.find(node), Cluster(records=[], subjects=[]))
            (cluster.records if node[0] == "r" else cluster.subjects).append(node[1])  # type: ignore[arg-type]
        for cluster in clusters.values():
            cluster.records.sort()
            cluster.subjects.sort(key=self.subject_order)
        return [cluster for cluster in clusters.values() if cluster.records or len(cluster.subjects) > 1]


def resolve(
    records: Iterable[IncomingRecord],
    *,
    holders: dict[Key, set[uuid.UUID]],
    subjects: dict[uuid.UUID, Evidence],
    subject_order: Callable[[uuid.UUID], object],
    is_blocked: Callable[[Key], bool],
    max_shared: int,
    widely_held: set[Key] = frozenset(),  # type: ignore[assignment]
    verified_holders: dict[Key, set[uuid.UUID]] | None = None,
) -> Plan:
    """Group records and subjects into people.

    ``holders`` maps each identifier key of the batch to the live subjects already holding it (keys in
    ``widely_held`` are held by more than ``max_shared`` subjects and may be left out of ``holders``),
    ``verified_holders`` to those whose claim on it is verified; records list every email under
    ``email`` and the verified ones also under ``verified_email``;
    ``subjects`` gives the evidence of every subject named there or linked by external id;
    ``subject_order`` sorts subjects, oldest first: the first is the survivor of a merge.
    """
    resolution = _Resolution(list(records), subjects, subject_order)
    verified_holders = verified_holders or {}
    too_shared: set[Key] = set(widely_held)
    blocked_values: set[Key] = set()

    # Rule 1: an update of a known record stays with its subject.
    for record in resolution.records:
        if record.existing_subject is not None:
            resolution.join(("s", record.existing_subject), ("r", record.position), "external_id", "external")
            resolution.reasons[record.position] = LinkReason("external_id", "external")

    for rule in RULES[1:]:
        # A verified email links without a name check only between parties that each verified it: a
        # subject that merely used the address (a child's account on the family email) did not.
        participants = resolution.participants(rule, verified_holders if rule == "verified_email" else holders)
        for key in sorted(participants):
            nodes = _unique(participants[key])
            if len(nodes) < 2 or key in too_shared:
                continue
            if is_blocked(key):
                blocked_values.add(key)
                continue
            if len({resolution.uf.find(node) for node in nodes}) > max_shared:
                too_shared.add(key)
                continue
            resolution.link_group(nodes, rule, RULE_KINDS[rule])

    reasons = resolution.reasons
    for position, seen in resolution.vetoes_seen.items():
        linked = reasons.get(position, LinkReason("new_subject", ""))
        reasons[position] = LinkReason(linked.rule, linked.kind, tuple(seen))
    return Plan(
        clusters=resolution.clusters(),
        reasons=reasons,
        edges=resolution.edges,
        vetoed=resolution.vetoed,
        too_shared=too_shared,
        blocked_values=blocked_values,
    )


def _copy(evidence: Evidence) -> Evidence:
    return Evidence(
        set(evidence.cpfs),
        list(evidence.names),
        set(evidence.birth_dates),
        set(evidence.subjects),
        set(evidence.blocked),
    )


def _unique(nodes: list[Node]) -> list[Node]:
    seen: set[Node] = set()
    return [node for node in nodes if not (node in seen or seen.add(node))]
