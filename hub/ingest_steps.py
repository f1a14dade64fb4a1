"""The table of channel-specific ingest steps (protocols: hub/conversations/steps.py),
as workers/registry.py is the table of senders. A new channel with its own persistence
registers its steps here; the generic pipeline does not change."""

from __future__ import annotations

from hub.config import Settings
from hub.contacts.ingest import PrechatStep
from hub.conversations.steps import IngestSteps
from hub.email.ingest import BounceStep, EmailThreadStep, email_options
from hub.email.store.cases import EmailOptions
from hub.voice.ingest import VoiceStep


def ingest_steps(*, email: EmailOptions | None = None) -> IngestSteps:
    return IngestSteps(
        apart=(VoiceStep(), BounceStep()),
        threaders=(EmailThreadStep(email or EmailOptions()),),
        after_messages=(PrechatStep(),),
    )


def ingest_steps_for(settings: Settings) -> IngestSteps:
    return ingest_steps(email=email_options(settings))


DEFAULT_STEPS = ingest_steps()
