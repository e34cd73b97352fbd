"""Write the labelled pile-on scenario set, tests/data/pileon_scenarios.jsonl (seeded: the same file
every time). Run it again only to change the set, and commit the file it writes.

Each line is one thread: `kind`, `split` ("tune" or "holdout"), `target` (the member piled on, or
null), `expect_alert`, and `messages` in order, each with `t` (seconds after the opening post),
`as`, `text`, `reply_to` (the index of the message it replies to; 0 is the opening post) and
`hostile` (the label: an attack on the person). The holdout phrasings were written apart from
the tuning ones and are not used to tune the scorer.

    .venv/bin/python benchmarks/pileon_make_scenarios.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "pileon_scenarios.jsonl"

ATTACKS = {
    "tune": [
        "Are you even a real doctor?",
        "who let you near patients with takes like this",
        "you're not even a real doctor, stop posting",
        "did you even go to medical school?",
        "you are a total clown",
        "How did you pass your boards, honestly",
        "fake doctor spreading nonsense again",
        "god help your patients",
        "you should be ashamed of yourself",
        "stay in your lane",
        "you are clueless about this, awful",
        "You should not be practising medicine",
        "you're an embarrassment to the profession",
        "Nobody asked you, go away",
        "are you actually qualified to say that?",
        "what an idiot, seriously",
    ],
    "holdout": [
        "Where did you get your degree, a cereal box?",
        "you are a fraud and everyone here knows it",
        "pity your patients honestly",
        "Did you actually finish residency or just google things?",
        "you're so ignorant it hurts to read",
        "shut up and let the real doctors talk",
        "you are a dangerous quack",
        "Typical diversity hire, no wonder",
        "someone should report you to the GMC",
        "you disgust me, deleting this would be a kindness",
        "are you seriously a consultant? wow",
        "you're a liar and a hack",
        "honestly you should be struck off",
        "you are pathetic",
        "not a real physician, just a loud one",
        "lol who gave you a licence",
    ],
}

DEBATE = {
    "tune": [
        "This trial is garbage: open label, and the primary outcome moved mid-study.",
        "You are wrong about the effect size, the CI crosses 1.",
        "Terrible study, you are cherry-picking the one subgroup that worked.",
        "I strongly disagree with your reading, the NNT is absurd.",
        "Your conclusion is dangerous advice for patients, frankly.",
        "Awful methodology, I can't believe this passed peer review.",
        "The authors are frauds if they knew about the dropout rate.",
        "This is a terrible take on a terrible paper.",
        "No, you're misreading table 2, the baseline groups differ.",
        "I hate to say it but this guideline is nonsense.",
    ],
    "holdout": [
        "Hard disagree. The meta-analysis is dominated by one low quality RCT.",
        "You're ignoring the heterogeneity, I2 was 80%.",
        "This paper is junk science and the journal should retract it.",
        "Sorry but your interpretation doesn't survive the sensitivity analysis.",
        "That is a horrible endpoint, surrogate markers again.",
        "You're overselling it; the absolute risk reduction is 0.4%.",
        "The funding source alone makes me distrust these results.",
        "Your numbers are off, I got an NNT of 250 from their own data.",
        "Stupid trial design, why would anyone power it on a composite like that?",
        "I think you're wrong, but I'd love to see the full protocol.",
    ],
}

CELEBRATE = {
    "tune": [
        "Congratulations!",
        "Congrats, you absolutely deserve it!",
        "Well done!! 🎉",
        "So happy for you, amazing news",
        "Brilliant, congratulations doctor!",
        "You killed it, congrats",
    ],
    "holdout": [
        "Massive congrats, you've earned every bit of this",
        "Huge news!!! Proud of you",
        "Welcome to the consultant club 🥳",
        "Yesss, get in! Congratulations",
        "Fantastic, enjoy the celebration tonight",
        "You're going to be a brilliant registrar, well done",
    ],
}

CIVIL = [
    "Interesting, thanks for sharing.",
    "What dose did you use in the audit?",
    "We see the same on our ward.",
    "Could you share the protocol?",
    "Good point about the follow-up.",
    "I'd add that renal function matters here.",
]

OPENINGS = {
    "pileon": "Why I think we over-investigate chest pain in under-30s",
    "debate": "New trial: restrictive fluids in septic shock",
    "celebration": "I passed my specialty exam today!",
    "one_vs_many": "Night shift survival tips",
    "three_attackers": "My take on antibiotic stewardship in primary care",
    "spread": "Thoughts on the new hypertension guideline",
}


def _thread(kind: str, split: str, rng: random.Random, index: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"t": 0, "as": "target", "text": OPENINGS[kind], "reply_to": None, "hostile": False}
    ]
    target: str | None = "target"
    expect = False

    def post(t: float, who: str, text: str, reply_to: int | None, hostile: bool = False) -> None:
        messages.append({"t": round(t, 1), "as": who, "text": text, "reply_to": reply_to, "hostile": hostile})

    t = 0.0
    if kind in {"pileon", "three_attackers", "spread"}:
        attackers = {"pileon": rng.choice([4, 4, 5, 6, 8, 12]), "three_attackers": 3, "spread": 5}[kind]
        span = {"pileon": rng.choice([90, 300, 900, 1500]), "three_attackers": 600, "spread": 5 * 3600}[kind]
        expect = kind == "pileon"
        # the target answers once, so some attacks reply to the target's reply
        post(30, "target", "To be clear, I mean low-risk patients with a normal ECG.", 0)
        phrases = rng.sample(ATTACKS[split], k=min(attackers, len(ATTACKS[split])))
        times = sorted(rng.uniform(60, 60 + span) for _ in range(attackers))
        for n, at in enumerate(times):
            if rng.random() < 0.4:
                post(at - 5, f"bystander{n}", rng.choice(CIVIL), 0)
            text = phrases[n % len(phrases)]
            how = rng.random()
            if how < 0.2:
                post(at, f"attacker{n}", f"@target {text}", None, True)
            else:
                post(at, f"attacker{n}", text, 0 if how < 0.7 else 1, True)
            if rng.random() < 0.3:  # some say it twice
                post(at + 20, f"attacker{n}", rng.choice(ATTACKS[split]), 0, True)
    elif kind == "debate":
        for n in range(rng.randint(6, 15)):
            t += rng.uniform(20, 120)
            post(t, f"debater{n}", rng.choice(DEBATE[split]), rng.choice([0, None]))
            if rng.random() < 0.3:
                post(t + 10, "target", "Fair, but the mortality signal is still there.", len(messages) - 1)
    elif kind == "celebration":
        for n in range(rng.randint(10, 25)):
            t += rng.uniform(5, 60)
            post(t, f"friend{n}", rng.choice(CELEBRATE[split]), 0)
    elif kind == "one_vs_many":
        target = None  # nobody is piled on: one member turns on several
        for n in range(rng.randint(4, 6)):
            t += rng.uniform(30, 120)
            post(t, f"member{n}", rng.choice(CIVIL), 0)
            post(t + 15, "troll", rng.choice(ATTACKS[split]), len(messages) - 1, True)
    order = sorted(range(len(messages)), key=lambda i: (messages[i]["t"], i))
    position = {old: new for new, old in enumerate(order)}
    messages = [
        {
            **messages[i],
            "reply_to": None if messages[i]["reply_to"] is None else position[messages[i]["reply_to"]],
        }
        for i in order
    ]
    return {
        "id": f"{split}-{kind}-{index}",
        "kind": kind,
        "split": split,
        "target": target if expect else None,
        "expect_alert": expect,
        "messages": messages,
    }


def main() -> None:
    rng = random.Random(20)
    plan = {
        "tune": {
            "pileon": 14,
            "debate": 8,
            "celebration": 6,
            "one_vs_many": 4,
            "three_attackers": 3,
            "spread": 3,
        },
        "holdout": {
            "pileon": 10,
            "debate": 6,
            "celebration": 4,
            "one_vs_many": 3,
            "three_attackers": 2,
            "spread": 2,
        },
    }
    rows = []
    for split, kinds in plan.items():
        for kind, count in kinds.items():
            rows += [_thread(kind, split, rng, i) for i in range(count)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{len(rows)} threads -> {OUT}")


if __name__ == "__main__":
    main()
