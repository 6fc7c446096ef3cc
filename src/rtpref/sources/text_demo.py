"""The offline text demo: templated prompts, several candidate responses each, every pair of them.

A prompt asks about one task (a topic and an aspect of it) in one of several phrasings, after
an optional line of context. Its
candidate responses combine a tone (warm, neutral or curt), a content kind (a detailed,
on-topic answer with steps; a short on-topic answer; a vague non-answer; an answer about another
topic) and an optional closing line, each drawn at random. Every prompt also gets a hidden
description of a good answer and of a bad one. They are not features: the demo's stand-in
reward (``rtpref.text_models.StandInReward``) scores a response by its similarity to the good
description minus its similarity to the bad one, in the sentence encoder's space.

Everything is a function of ``(seed, prompt_index)``, so the demo does not depend on sharding.
Pairs are all ``candidates * (candidates - 1) / 2`` pairs of each prompt's candidates.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pyarrow as pa

from rtpref.sources.text import pairs_table

# text.dataset naming this demo instead of a hub id or local files.
DEMO_DATASET = "demo"
# topic -> aspects a question can be about, and the concrete steps of a helpful answer.
TOPICS: dict[str, dict[str, list[str]]] = {
    "baking bread": {
        "aspects": ["getting a good rise", "a crisp crust", "kneading the dough"],
        "steps": [
            "use warm water and let the yeast foam first",
            "knead for ten minutes until the dough is smooth",
            "let it rise somewhere warm until it doubles",
            "bake on a hot stone with a tray of water for steam",
        ],
    },
    "growing tomatoes": {
        "aspects": ["watering", "choosing a spot", "preventing split fruit"],
        "steps": [
            "plant them where they get eight hours of sun",
            "water deeply twice a week at the base",
            "mulch to keep the soil moisture even",
            "stake the stems before the fruit gets heavy",
        ],
    },
    "learning Python": {
        "aspects": ["where to start", "practising", "reading error messages"],
        "steps": [
            "install Python and write a tiny script today",
            "work through one small exercise every day",
            "read the last line of a traceback first",
            "build a small project you care about",
        ],
    },
    "running a first 5k": {
        "aspects": ["building endurance", "avoiding injury", "pacing"],
        "steps": [
            "alternate one minute of running with two of walking",
            "run three times a week with rest days between",
            "increase your weekly distance by about ten percent",
            "start slower than feels necessary",
        ],
    },
    "saving money": {
        "aspects": ["making a budget", "cutting food costs", "an emergency fund"],
        "steps": [
            "write down every expense for one month",
            "move a fixed amount to savings on payday",
            "plan meals and shop with a list",
            "cancel subscriptions you no longer use",
        ],
    },
    "sleeping better": {
        "aspects": ["falling asleep", "a regular schedule", "screens at night"],
        "steps": [
            "go to bed and wake up at the same time every day",
            "keep the bedroom cool, dark and quiet",
            "stop using screens an hour before bed",
            "avoid caffeine after lunch",
        ],
    },
    "writing a cover letter": {
        "aspects": ["the opening line", "the length", "matching the job ad"],
        "steps": [
            "open with the role and why it excites you",
            "give two concrete achievements with numbers",
            "mirror the key skills from the job advert",
            "keep it under one page and proofread it aloud",
        ],
    },
    "caring for a cat": {
        "aspects": ["feeding", "litter training", "keeping it entertained"],
        "steps": [
            "feed measured meals at fixed times",
            "keep one litter box per cat plus one, cleaned daily",
            "play with a wand toy for ten minutes twice a day",
            "book a yearly check-up with a vet",
        ],
    },
    "fixing a slow laptop": {
        "aspects": ["startup time", "freeing disk space", "too many browser tabs"],
        "steps": [
            "disable programs that launch at startup",
            "uninstall apps you have not used in months",
            "keep at least fifteen percent of the disk free",
            "restart it and install pending updates",
        ],
    },
    "making friends in a new city": {
        "aspects": ["meeting people", "shyness", "keeping in touch"],
        "steps": [
            "join a weekly class or club around a hobby",
            "say yes to invitations for the first few months",
            "suggest a specific plan instead of saying let's meet",
            "follow up within a week of meeting someone",
        ],
    },
}
QUESTIONS = (
    "How do I get better at {topic}, especially {aspect}?",
    "Any tips for {topic}? I struggle with {aspect}.",
    "What is the best way to approach {aspect} when {topic}?",
    "I'm new to {topic}. Where should I begin with {aspect}?",
    "Can you explain {aspect} for someone who is {topic}?",
)
OPENINGS = {
    "warm": ("Great question!", "Happy to help.", "Good on you for asking."),
    "neutral": ("Here is an answer.", "Okay.", "Sure."),
    "curt": ("Ugh, fine.", "Obviously.", "Not sure why you would even ask."),
}
CONTEXTS = (
    "",
    "I only have a few minutes a day.",
    "I'm a complete beginner.",
    "I tried before and gave up.",
    "My budget is tight.",
    "I'm doing this with my kids.",
)
CLOSINGS = ("", "Good luck!", "Hope this helps.", "Let me know how it goes.", "Whatever.")
CONTENT_KINDS = ("detailed", "brief", "vague", "off_topic")


@dataclasses.dataclass(frozen=True)
class TextDemoConfig:
    n_prompts: int = 600
    candidates: int = 5
    seed: int = 0

    @property
    def n_pairs(self) -> int:
        return self.n_prompts * self.candidates * (self.candidates - 1) // 2


def _pick(rng: np.random.Generator, options: tuple | list) -> str:
    return options[int(rng.integers(len(options)))]


def candidate(topic: str, rng: np.random.Generator) -> str:
    """One response to a question about ``topic``, of random tone, content and closing."""
    tone = _pick(rng, tuple(OPENINGS))
    kind = _pick(rng, CONTENT_KINDS)
    steps = TOPICS[topic]["steps"]
    if kind == "detailed":
        chosen = rng.choice(len(steps), size=int(rng.integers(2, 4)), replace=False)
        body = "First, " + "; then ".join(steps[i] for i in sorted(chosen)) + "."
    elif kind == "brief":
        body = f"Just {_pick(rng, steps)}."
    elif kind == "vague":
        body = _pick(
            rng,
            (
                "It depends on a lot of things, really.",
                "Everyone does it differently, so just try stuff.",
                "You'll figure it out eventually.",
            ),
        )
    else:
        other = _pick(rng, [name for name in TOPICS if name != topic])
        body = f"Speaking of {other}: {_pick(rng, TOPICS[other]['steps'])}."
    return " ".join(
        part for part in (_pick(rng, OPENINGS[tone]), body, _pick(rng, CLOSINGS)) if part
    )


def make_prompt(prompt_index: int, config: TextDemoConfig) -> dict:
    """A prompt, its distinct candidate responses and hidden good/bad descriptions."""
    rng = np.random.default_rng([config.seed, prompt_index])
    topic = _pick(rng, list(TOPICS))
    aspect = _pick(rng, TOPICS[topic]["aspects"])
    responses: list[str] = []
    while len(responses) < config.candidates:
        response = candidate(topic, rng)
        if response not in responses:
            responses.append(response)
    return {
        "prompt": " ".join(
            part
            for part in (
                _pick(rng, CONTEXTS),
                _pick(rng, QUESTIONS).format(topic=topic, aspect=aspect),
            )
            if part
        ),
        "responses": responses,
        "good": f"A friendly, specific answer about {topic} and {aspect}, with concrete steps.",
        "bad": f"A rude, vague or off-topic reply that does not help with {topic}.",
    }


def make_pairs(config: TextDemoConfig) -> pa.Table:
    """All demo pairs in the raw text schema, plus the hidden ``good`` and ``bad`` columns."""
    prompts, first, second, origins, good, bad = [], [], [], [], [], []
    for prompt_index in range(config.n_prompts):
        made = make_prompt(prompt_index, config)
        for i, j in itertools.combinations(range(config.candidates), 2):
            prompts.append(made["prompt"])
            first.append(made["responses"][i])
            second.append(made["responses"][j])
            origins.append(f"demo prompt {prompt_index} candidates {i},{j}")
            good.append(made["good"])
            bad.append(made["bad"])
    # Candidates are in random order already; keep item order (no dataset label to hide).
    table = pairs_table(prompts, first, second, np.ones(len(prompts), dtype=bool), origins)
    # Demo pairs have no human label: human_choice is meaningless, so it is null.
    table = table.set_column(
        table.schema.get_field_index("human_choice"),
        "human_choice",
        pa.nulls(table.num_rows, pa.int8()),
    )
    return table.append_column("good", pa.array(good)).append_column("bad", pa.array(bad))


def text_pairs_planned(text: dict) -> int | None:
    """Pairs the text source will provide, where the config alone says (None when unknown)."""
    if text.get("dataset", DEMO_DATASET) == DEMO_DATASET:
        demo = text.get("demo", {})
        return TextDemoConfig(**demo).n_pairs
    return text.get("sample_size")
