"""Who is told what: the one routing table from events to in-app messages (channel ``app``).

Each routed event type names a template of ``domain.TEMPLATES`` and a recipients rule; the handler
of the rule (``events.py``) works out the recipients and the template's variables, and stores one
notification per (event, recipient, channel), so a redelivered event adds nothing.

================================ ====================== ========= ==================================
event                            template               rule      variables
================================ ====================== ========= ==================================
intake.proposal.submitted        proposal_received      submitter title
intake.proposal.accepted         proposal_accepted      proposal  relation, title
intake.proposal.rejected         proposal_rejected      proposal  relation, title, reason
intake.proposal.merged           proposal_merged        proposal  relation, title, into_title
intake.proposal.referred         proposal_referred      proposal  relation, title
meetings.consultation.scheduled  proposal_scheduled     topics    relation, title, starts_at
meetings.consultation.decided    proposal_decided       topics    relation, title
tracking.task.completed          proposal_resolved      topics    relation, title
meetings.consultation.announced  consultation_announced invitees  title, form_name, starts_at, place
meetings.consultation.postponed  consultation_postponed invitees  title, starts_at, reason
meetings.consultation.cancelled  consultation_cancelled invited   title, reason
================================ ====================== ========= ==================================

Recipients rules:

- ``submitter``: ``submitter_id`` of the payload.
- ``proposal`` (submitter + co-signers): ``submitter_id`` of the payload, then everyone currently
  co-signing ``proposal_id`` (``proposal_supporter``); a co-signer who withdrew is not told.
- ``topics`` (topics' submitters + co-signers): for each of the payload's ``proposal_ids``, its
  submitter (``proposal_audience``) and co-signers. Someone concerned by several of the topics gets
  one message, about the first proposal where they are the submitter, else the first they co-signed.
- ``invitees``: ``invitee_ids`` of the payload.
- ``invited``: the invitees kept from the consultation's announcement and postponements
  (``consultation.cancelled`` carries neither invitees nor the title).

``relation`` is 提交 for a submitter and 附议 for a co-signer. Times are shown in Beijing time
(``domain.local_time``: 12月1日 09:00). Messages carry no personal data beyond the title of the
recipient's own matter (a merge also names the proposal it joined, now also theirs).

Audience replicas (ids only, idempotent; ``REPLICAS``):

================================ ====================================================================
event                            replica
================================ ====================================================================
intake.proposal.submitted        proposal_audience(proposal_id, community_code, title, submitter_id)
intake.proposal.supported        proposal_supporter(proposal_id, supporter_id); withdrawn deletes
intake.proposal.merged           the duplicate's co-signers and submitter move to the target (as
                                 intake moves them), except the target's own submitter
meetings.consultation.announced  consultation_audience(consultation_id, community_code, title),
                                 consultation_invitee(consultation_id, invitee_id)
meetings.consultation.postponed  as announced (title updated, invitees added)
================================ ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain import TEMPLATES

SUBMITTER = "submitter"
PROPOSAL = "proposal"
TOPICS = "topics"
INVITEES = "invitees"
INVITED = "invited"
RULES = (SUBMITTER, PROPOSAL, TOPICS, INVITEES, INVITED)


@dataclass(frozen=True)
class Route:
    template: str
    recipients: str
    variables: tuple[str, ...]  # what the handler provides; must be exactly the template's

    def __post_init__(self):
        if self.recipients not in RULES:
            raise ValueError(f"unknown recipients rule {self.recipients!r}")
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}")
        if set(self.variables) != TEMPLATES[self.template].variables:
            raise ValueError(f"route of {self.template!r} provides {self.variables}, the template needs others")


ROUTES: dict[str, Route] = {
    "intake.proposal.submitted": Route("proposal_received", SUBMITTER, ("title",)),
    "intake.proposal.accepted": Route("proposal_accepted", PROPOSAL, ("relation", "title")),
    "intake.proposal.rejected": Route("proposal_rejected", PROPOSAL, ("relation", "title", "reason")),
    "intake.proposal.merged": Route("proposal_merged", PROPOSAL, ("relation", "title", "into_title")),
    "intake.proposal.referred": Route("proposal_referred", PROPOSAL, ("relation", "title")),
    "meetings.consultation.scheduled": Route("proposal_scheduled", TOPICS, ("relation", "title", "starts_at")),
    "meetings.consultation.decided": Route("proposal_decided", TOPICS, ("relation", "title")),
    "tracking.task.completed": Route("proposal_resolved", TOPICS, ("relation", "title")),
    "meetings.consultation.announced": Route(
        "consultation_announced", INVITEES, ("title", "form_name", "starts_at", "place")
    ),
    "meetings.consultation.postponed": Route("consultation_postponed", INVITEES, ("title", "starts_at", "reason")),
    "meetings.consultation.cancelled": Route("consultation_cancelled", INVITED, ("title", "reason")),
}

# Events kept in notify's audience replicas, and the tables they keep.
REPLICAS: dict[str, tuple[str, ...]] = {
    "intake.proposal.submitted": ("proposal_audience",),
    "intake.proposal.supported": ("proposal_supporter",),
    "intake.proposal.merged": ("proposal_supporter",),
    "meetings.consultation.announced": ("consultation_audience", "consultation_invitee"),
    "meetings.consultation.postponed": ("consultation_audience", "consultation_invitee"),
}
