"""Which of the models a server lists is the one an agent names. Servers report models
their own way: llama.cpp by the path of its GGUF file, Ollama with a tag
(``llama3:latest``), a server with one model answers whatever name is asked for."""

from pathlib import PurePosixPath

_TAG = ":latest"


def model_match(wanted: str, listed: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """``(listed id, how)``: the listed id the name refers to and, when it is not the
    same text, how it was matched in plain words; ``("", "")`` when none fits."""
    if wanted in listed:
        return wanted, ""
    folded = wanted.strip().lower()
    for model in listed:
        if _plain(model) == _plain(folded):
            return model, f"listed as “{model}”"
    for model in listed:
        if folded and folded in _file_name(model):
            return model, f"served from the file “{model}”"
    if len(listed) == 1:
        only = listed[0]
        return only, f"the server has one model, “{only}”, and answers every request with it"
    return "", ""


def _plain(name: str) -> str:
    """Case and a ``:latest`` tag make no difference (Ollama adds it)."""
    return name.lower().removesuffix(_TAG)


def _file_name(model: str) -> str:
    """``/models/SmolLM2-135M-Instruct.Q4_1.gguf`` → ``smollm2-135m-instruct.q4_1``."""
    name = PurePosixPath(model.replace("\\", "/")).name.lower()
    return name.removesuffix(".gguf").removesuffix(".bin")
