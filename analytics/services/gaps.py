"""Knowledge gaps: questions that got no grounded answer, paraphrases grouped together.

A new question joins the open group whose first question is nearest to it: by cosine similarity
of sentence embeddings (the knowledge app's loaded model, through `ANALYTICS_EMBEDDER`) when dense
search is on, else by the overlap of content words (Jaccard). Below the threshold it starts a
group of its own. A group a staff member marked resolved takes no new questions: if people keep
asking, a new group shows that the entry did not cover it.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.module_loading import import_string

from analytics.models import GapGroup, GapQuestion

log = structlog.get_logger(__name__)

CANDIDATE_GROUPS = 5000  # open groups compared with a new question (the most recently asked)
STOPWORDS = frozenset(
    """a an and are as at be can could do does for from how i if in is it my me of on or
    our please should so that the their there this to was we what when where which who why will
    with would you your""".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def question_signature(text: str) -> str:
    """The question's content words, lower-cased, singular-ish, sorted and unique."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return " ".join(sorted(words))


def question_embed(text: str) -> np.ndarray | None:
    """A unit vector for `text`, or None when no embedding model is available."""
    path = getattr(settings, "ANALYTICS_EMBEDDER", "")
    if not path:
        return None
    try:
        vector = import_string(path)(text)
    except Exception:  # noqa: BLE001 - grouping falls back to words; never fail a recording
        log.exception("analytics_embed_failed")
        return None
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def jaccard(first: str, second: str) -> float:
    a, b = set(first.split()), set(second.split())
    return len(a & b) / len(a | b) if a and b else 0.0


def gap_group_match(
    *, vector: np.ndarray | None, signature: str, synthetic: bool
) -> GapGroup | None:
    """The open group this question belongs to, or None."""
    candidates = GapGroup.objects.filter(resolved_at__isnull=True, synthetic=synthetic).order_by(
        "-last_asked_at"
    )[:CANDIDATE_GROUPS]
    if vector is not None:
        rows = [(pk, blob) for pk, blob in candidates.values_list("pk", "vector") if blob]
        if rows:
            matrix = np.frombuffer(b"".join(bytes(b) for _, b in rows), dtype=np.float32)
            scores = matrix.reshape(len(rows), -1) @ vector
            best = int(np.argmax(scores))
            if scores[best] >= settings.ANALYTICS_GAP_SIMILARITY:
                return GapGroup.objects.get(pk=rows[best][0])
        return None
    best_pk, best_score = None, 0.0
    for pk, other in candidates.values_list("pk", "signature"):
        score = jaccard(signature, other)
        if score > best_score:
            best_pk, best_score = pk, score
    if best_pk is not None and best_score >= settings.ANALYTICS_GAP_LEXICAL_SIMILARITY:
        return GapGroup.objects.get(pk=best_pk)
    return None


def gap_record(
    *, reply_id, session_id, question: str, reason: str, asked_at: datetime, synthetic: bool
) -> GapQuestion | None:
    """File one unanswered question in its group (None when it was filed before)."""
    if GapQuestion.objects.filter(reply_id=reply_id).exists():
        return None
    vector = question_embed(question)
    signature = question_signature(question)
    group = gap_group_match(vector=vector, signature=signature, synthetic=synthetic)
    try:
        with transaction.atomic():
            if group is None:
                group = GapGroup.objects.create(
                    question=question[:2000],
                    signature=signature,
                    vector=vector.tobytes() if vector is not None else None,
                    first_asked_at=asked_at,
                    last_asked_at=asked_at,
                    synthetic=synthetic,
                )
            entry = GapQuestion.objects.create(
                group=group,
                reply_id=reply_id,
                session_id=session_id,
                question=question[:2000],
                reason=reason,
                asked_at=asked_at,
                synthetic=synthetic,
            )
            GapGroup.objects.filter(pk=group.pk).update(
                count=F("count") + 1, last_asked_at=Greatest(F("last_asked_at"), asked_at)
            )
    except IntegrityError:
        return None
    return entry


def gap_groups_resolve(*, group_ids, by: str) -> int:
    """Mark groups resolved (an entry now covers them); returns how many changed."""
    return GapGroup.objects.filter(pk__in=list(group_ids), resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=by[:150]
    )


def gap_groups_reopen(*, group_ids) -> int:
    return GapGroup.objects.filter(pk__in=list(group_ids)).update(resolved_at=None, resolved_by="")
