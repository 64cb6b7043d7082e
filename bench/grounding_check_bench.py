"""What the groundedness check and the link guard add before `done`, for a 300-token reply.

    .venv/bin/python bench/grounding_check_bench.py [--runs 200]

A fixed reply of about 300 tokens (16 sentences: copied, paraphrased and invented ones, with
links, an address and a number) is checked against three StackFAQ-sized passages, the way
chat.reply.finish does when a reply ends: `link_guard` on the whole text, then `check`. Timed
(a) lexical only and (b) with the embedding model (all-MiniLM-L6-v2 through knowledge's query
encoder, on one thread; its query cache is emptied before each run, so every sentence is
embedded cold). Prints p50/p95 of each; the last line is JSON. Run it on an idle machine: a
shared CPU's queueing shows up in p95.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSAGES = [
    {
        "title": "How do I delete my GitHub repository?",
        "url": "/help/kb/101/",
        "body": "Open the repository's Settings page. Scroll to the bottom of the page: in the "
        "Danger Zone, click Delete this repository. GitHub asks you to type the repository's "
        "name to confirm, because this cannot be undone. Forks of a public repository are not "
        "deleted with it. If you only want to hide it, make it private instead, from the same "
        "Danger Zone. See https://docs.github.com/en/repositories/creating-and-managing-"
        "repositories/deleting-a-repository for details.",
    },
    {
        "title": "How can I transfer a repository to another owner?",
        "url": "/help/kb/102/",
        "body": "In the repository's Settings, under Danger Zone, click Transfer. Type the name "
        "of the new owner (a user or an organisation you can create repositories in) and the "
        "repository's name. Issues, pull requests, the wiki, stars and watchers move with it; "
        "links to the old address are redirected. The new owner must accept within one day.",
    },
    {
        "title": "Can I restore a deleted repository?",
        "url": "/help/kb/103/",
        "body": "Some deleted repositories can be restored within 90 days of deletion. Open your "
        "account Settings, then Repositories, then Deleted repositories, and click Restore next "
        "to it. A repository that was part of a fork network cannot be restored unless the "
        "other repositories in the network were deleted too. Contact GitHub Support otherwise.",
    },
]
REPLY = (
    "Sure! To delete a repository, open the repository's Settings page [1]. Scroll to the bottom "
    "of the page: in the Danger Zone, click Delete this repository. GitHub will ask you to type "
    "the repository's name to confirm, because this cannot be undone. Keep in mind that forks of "
    "a public repository are not deleted along with it.\n\n"
    "If you only want to hide the project, you can make it private from the same Danger Zone "
    "instead. You can also transfer it to another owner from Settings, under Danger Zone "
    "[2].\n\n"
    "Changed your mind? Some deleted repositories can be restored within 90 days: open your "
    "account Settings, then Repositories, then Deleted repositories [3]. A repository in a fork "
    "network usually cannot be restored.\n\n"
    "You can also run `git-clone --delete --all` in your terminal to wipe every local copy at "
    "once. Atlassian keeps automatic backups of every repository for a whole year, so write to "
    "backup@atlassian-support.example or call +1 415 555 2671 to recover one. Read more at "
    "[the official guide](https://github.com/concierge/guides/delete-repo) and "
    "https://docs.github.com/en/repositories/creating-and-managing-repositories/deleting-a-"
    "repository. Their team answers within two hours on weekdays. I hope this helps!"
)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("KNOWLEDGE_QUERY_THREADS", "1")
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def finish_check(embed) -> tuple[float, float, object]:
    """What finishing a reply runs: the guard on the text, then the check.
    Returns (wall ms, CPU ms of this thread, verdict)."""
    from django.conf import settings

    from chat.reply.grounding import check
    from chat.reply.links import link_guard

    started, cpu = time.perf_counter(), time.thread_time()
    guarded = link_guard(
        REPLY,
        sources=PASSAGES,
        site_hosts=settings.ALLOWED_HOSTS,
        allowlist=settings.CHAT_LINK_ALLOWLIST,
        support=settings.CONCIERGE_SUPPORT,
    )
    verdict = check(
        guarded.text, passages=PASSAGES, embed=embed, support=settings.CONCIERGE_SUPPORT
    )
    return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000, verdict


def timed(runs: int, embed, before_each=None) -> tuple[list[float], list[float], object]:
    walls, cpus, verdict = [], [], None
    for _ in range(runs):
        if before_each:
            before_each()
        wall, cpu, verdict = finish_check(embed)
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    from knowledge import embeddings
    from knowledge.search import embed_texts

    tokens = len(REPLY) / 4
    lexical, lexical_cpu, verdict = timed(args.runs, None)
    embeddings.get_model()
    embed_texts(["warm up"])
    dense, dense_cpu, dense_verdict = timed(
        max(20, args.runs // 5), embed_texts, before_each=embeddings._query_cache.clear
    )
    result = {
        "reply_tokens": round(tokens),
        "runs": args.runs,
        "lexical_p50_ms": round(percentile(lexical, 0.5), 2),
        "lexical_p95_ms": round(percentile(lexical, 0.95), 2),
        "lexical_cpu_p95_ms": round(percentile(lexical_cpu, 0.95), 2),
        "embedding_p50_ms": round(percentile(dense, 0.5), 2),
        "embedding_p95_ms": round(percentile(dense, 0.95), 2),
        "verdict_lexical": verdict.grounded,
        "supported_share_lexical": round(verdict.supported_share, 3),
        "verdict_embedding": dense_verdict.grounded,
        "supported_share_embedding": round(dense_verdict.supported_share, 3),
        "embedding_cpu_p95_ms": round(percentile(dense_cpu, 0.95), 2),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"guard + check of a {result['reply_tokens']}-token reply against 3 passages:")
    print(
        f"  lexical only:   p50 {result['lexical_p50_ms']} ms, p95 {result['lexical_p95_ms']} ms"
        f" (CPU p95 {result['lexical_cpu_p95_ms']} ms; {verdict.grounded}, "
        f"{verdict.supported_share:.0%} supported)"
    )
    print(
        f"  with MiniLM:    p50 {result['embedding_p50_ms']} ms, "
        f"p95 {result['embedding_p95_ms']} ms (CPU p95 {result['embedding_cpu_p95_ms']} ms; "
        f"{dense_verdict.grounded}, "
        f"{dense_verdict.supported_share:.0%} supported)"
    )
    print(f"  load average while measuring: {result['load_average_1m']} on {result['cpus']} CPUs")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
