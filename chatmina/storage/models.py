"""Imports every feature's tables so that ``Base.metadata`` knows them all."""

from chatmina.accounts import models as accounts_models
from chatmina.assistant import models as assistant_models
from chatmina.conversations import models as conversations_models
from chatmina.functions import models as functions_models
from chatmina.knowledge import models as knowledge_models
from chatmina.mail import models as mail_models
from chatmina.privacy import models as privacy_models
from chatmina.storage.db import Base
from chatmina.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "accounts_models",
    "assistant_models",
    "conversations_models",
    "functions_models",
    "knowledge_models",
    "mail_models",
    "privacy_models",
    "webhooks_models",
]
