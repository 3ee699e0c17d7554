#!/usr/bin/env python3
"""Drives a running keyflow with the official OpenAI and Anthropic SDKs.

Usage:
    KEYFLOW_URL=http://127.0.0.1:7898 KEYFLOW_TOKEN=sk-client python3 tests/sdk/test_clients.py

KEYFLOW_URL is the gateway's root (no `/v1`); KEYFLOW_TOKEN a client token it
accepts. The models default to ones keyflow-mock knows and can be changed with
KEYFLOW_PAID_MODEL, KEYFLOW_FREE_MODEL, KEYFLOW_EMBED_MODEL, KEYFLOW_IMAGE_MODEL.

Each check runs on its own; the last line is `N passed, N failed` and the
exit status is non-zero when any check failed. The Rust test
`crates/keyflow/tests/api/sdk.rs` runs this script against keyflow and
keyflow-mock and counts the upstream calls it makes: keep the two in step
when adding or removing a check that reaches upstream.
"""

import os
import sys
import traceback

try:
    import anthropic
    import openai
except ImportError as error:  # pragma: no cover - reported, not hidden
    print(f"missing SDK ({error}): run scripts/test, or "
          "python3 -m pip install -r tests/sdk/requirements.txt", file=sys.stderr)
    sys.exit(2)

try:  # The SDKs moved from httpx to its fork httpx2; take whichever they use.
    import httpx2 as httpx
except ImportError:
    import httpx

URL = os.environ.get("KEYFLOW_URL", "http://127.0.0.1:7898").rstrip("/")
TOKEN = os.environ.get("KEYFLOW_TOKEN", "")
PAID = os.environ.get("KEYFLOW_PAID_MODEL", "deepseek-ai/DeepSeek-V3")
FREE = os.environ.get("KEYFLOW_FREE_MODEL", "Qwen/Qwen2.5-7B-Instruct")
EMBED = os.environ.get("KEYFLOW_EMBED_MODEL", "BAAI/bge-m3")
IMAGE = os.environ.get("KEYFLOW_IMAGE_MODEL", "Kwai-Kolors/Kolors")
TIMEOUT = 30.0
PROMPT = [{"role": "user", "content": "你好, keyflow: say something short"}]


def openai_client(token=None):
    # No SDK retries: a failure must show what keyflow answered the first time.
    return openai.OpenAI(base_url=f"{URL}/v1", api_key=token or TOKEN, max_retries=0, timeout=TIMEOUT)


def anthropic_client(token=None):
    # The SDK appends /v1/messages itself and sends the key as `x-api-key`.
    return anthropic.Anthropic(base_url=URL, api_key=token or TOKEN, max_retries=0, timeout=TIMEOUT)


# --- OpenAI SDK ---------------------------------------------------------------


def check_openai_chat():
    completion = openai_client().chat.completions.create(model=PAID, messages=PROMPT, max_tokens=64)
    assert completion.object == "chat.completion", completion
    assert completion.choices, completion
    message = completion.choices[0].message
    assert message.role == "assistant", message
    assert message.content, f"empty content: {completion}"
    assert completion.choices[0].finish_reason in ("stop", "length"), completion
    assert completion.usage is not None, completion
    assert completion.usage.total_tokens > 0, completion.usage
    assert completion.usage.prompt_tokens > 0, completion.usage


def check_openai_chat_free_model():
    completion = openai_client().chat.completions.create(model=FREE, messages=PROMPT)
    assert completion.choices[0].message.content, completion
    assert completion.usage.total_tokens > 0, completion.usage


def collect_stream(stream):
    """Reads a chat stream to its end: (chunks, content)."""
    chunks = []
    content = []
    with stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk", chunk
            chunks.append(chunk)
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    content.append(choice.delta.content)
    return chunks, "".join(content)


def check_openai_chat_stream():
    stream = openai_client().chat.completions.create(model=PAID, messages=PROMPT, stream=True)
    chunks, content = collect_stream(stream)
    assert len(chunks) >= 2, f"{len(chunks)} chunks"
    assert content, "no content in the stream"
    # keyflow asks upstream for the usage-only chunk; the client did not, so it must not see it.
    empty = [chunk for chunk in chunks if not chunk.choices]
    assert not empty, f"chunk with empty choices though include_usage was not asked: {empty[0]}"
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason]
    assert finishes and finishes[-1] in ("stop", "length"), f"no finish_reason: {finishes}"


def check_openai_chat_stream_ends_with_done():
    # The SDK stops quietly on a cut stream; the raw lines show it ended properly.
    with openai_client().chat.completions.with_streaming_response.create(
        model=PAID, messages=PROMPT, stream=True
    ) as response:
        assert response.http_response.status_code == 200, response.http_response
        content_type = response.headers.get("content-type", "")
        assert content_type.startswith("text/event-stream"), content_type
        lines = [line for line in response.iter_lines() if line.strip()]
    data = [line for line in lines if line.startswith("data:")]
    assert data, lines
    assert data[-1].strip() == "data: [DONE]", f"stream did not end with [DONE]: {data[-3:]}"
    assert all('"choices":[]' not in line.replace(" ", "") for line in data), "usage-only chunk leaked"


def check_openai_chat_stream_include_usage():
    stream = openai_client().chat.completions.create(
        model=PAID, messages=PROMPT, stream=True, stream_options={"include_usage": True}
    )
    chunks, content = collect_stream(stream)
    assert content, "no content in the stream"
    last = chunks[-1]
    assert last.choices == [], f"last chunk has choices: {last}"
    assert last.usage is not None, f"last chunk has no usage: {last}"
    assert last.usage.total_tokens > 0, last.usage
    assert last.usage.completion_tokens > 0, last.usage
    assert all(chunk.choices for chunk in chunks[:-1]), "a chunk before the last has empty choices"


def check_openai_completions_fim():
    completion = openai_client().completions.create(
        model=PAID, prompt="def add(a, b):\n    ", suffix="\n    return result\n", max_tokens=32
    )
    assert completion.choices and completion.choices[0].text, completion
    assert completion.usage is not None and completion.usage.total_tokens > 0, completion


def check_openai_embeddings():
    # The SDK asks for base64 by default and decodes it: both shapes must pass through.
    result = openai_client().embeddings.create(model=EMBED, input=["keyflow", "硅基流动"])
    assert len(result.data) == 2, result
    assert [item.index for item in result.data] == [0, 1], result
    for item in result.data:
        assert len(item.embedding) > 0, item
        assert all(isinstance(x, float) for x in item.embedding), item
    assert result.usage is not None and result.usage.prompt_tokens > 0, result.usage
    floats = openai_client().embeddings.create(model=EMBED, input="keyflow", encoding_format="float")
    assert len(floats.data[0].embedding) == len(result.data[0].embedding), floats
    assert abs(floats.data[0].embedding[0] - result.data[0].embedding[0]) < 1e-5, "base64 and float differ"


def check_openai_image_generation():
    # SiliconFlow answers `images: [{url}]` with `image_size`, not OpenAI's `data`/`size`,
    # so the raw route is used through the SDK's own client (auth, base URL, errors).
    client = openai_client()
    response = client.post(
        "/images/generations",
        body={"model": IMAGE, "prompt": "a lighthouse at dawn", "image_size": "1024x1024", "batch_size": 1},
        cast_to=httpx.Response,
    )
    assert response.status_code == 200, response
    body = response.json()
    assert body["images"], body
    url = body["images"][0]["url"]
    assert url.startswith(("http://", "https://")), url
    image = httpx.get(url, timeout=TIMEOUT)
    assert image.status_code == 200, f"GET {url}: {image.status_code}"
    assert image.content.startswith(b"\x89PNG"), f"not a PNG at {url}"


def check_openai_models_list():
    ids = [model.id for model in openai_client().models.list()]
    assert FREE in ids, f"{FREE} not in {ids}"
    assert PAID in ids, f"{PAID} not in {ids}"
    images = [model.id for model in openai_client().models.list(extra_query={"type": "image"})]
    assert IMAGE in images and FREE not in images, images


def check_openai_wrong_token():
    try:
        openai_client("sk-wrong-token").chat.completions.create(model=PAID, messages=PROMPT)
    except openai.AuthenticationError as error:
        assert error.status_code == 401, error
        # keyflow's own errors are OpenAI-shaped; the SDK keeps the inner `error` object.
        assert isinstance(error.body, dict) and error.body.get("message"), error.body
        assert error.code == "invalid_api_key", error.body
        return
    raise AssertionError("a wrong token was accepted")


def check_openai_unknown_model():
    # The client's own mistake comes back as upstream's 400 (code 20012), not a retry or 503.
    try:
        openai_client().chat.completions.create(model="no-such/model-xyz", messages=PROMPT)
    except openai.BadRequestError as error:
        assert error.status_code == 400, error
        assert "20012" in str(error.body) or "20012" in error.message, error.body
        return
    raise AssertionError("an unknown model was accepted")


# --- Anthropic SDK ------------------------------------------------------------


def check_anthropic_messages():
    message = anthropic_client().messages.create(
        model=PAID, max_tokens=64, system="Be brief.", messages=PROMPT
    )
    assert message.type == "message" and message.role == "assistant", message
    texts = [block.text for block in message.content if block.type == "text"]
    assert texts and texts[0], f"no text block: {message}"
    assert message.stop_reason in ("end_turn", "max_tokens"), message
    assert message.usage.input_tokens > 0, message.usage
    assert message.usage.output_tokens > 0, message.usage


def check_anthropic_messages_stream():
    parts = []
    with anthropic_client().messages.stream(model=PAID, max_tokens=64, messages=PROMPT) as stream:
        for text in stream.text_stream:
            parts.append(text)
        final = stream.get_final_message()
    text = "".join(parts)
    assert text, "no text streamed"
    assert final.content and final.content[0].type == "text", final
    assert final.content[0].text == text, f"{final.content[0].text!r} != {text!r}"
    assert final.stop_reason in ("end_turn", "max_tokens"), final
    assert final.usage.input_tokens > 0, final.usage
    assert final.usage.output_tokens > 0, final.usage


def check_anthropic_wrong_token():
    try:
        anthropic_client("sk-wrong-token").messages.create(model=PAID, max_tokens=16, messages=PROMPT)
    except anthropic.AuthenticationError as error:
        assert error.status_code == 401, error
        # keyflow's own errors on /v1/messages are in Anthropic's shape.
        body = error.body
        assert isinstance(body, dict) and body.get("type") == "error", body
        assert body["error"]["type"] == "authentication_error", body
        assert body["error"]["message"], body
        return
    raise AssertionError("a wrong token was accepted")


CHECKS = [
    check_openai_chat,
    check_openai_chat_free_model,
    check_openai_chat_stream,
    check_openai_chat_stream_ends_with_done,
    check_openai_chat_stream_include_usage,
    check_openai_completions_fim,
    check_openai_embeddings,
    check_openai_image_generation,
    check_openai_models_list,
    check_openai_wrong_token,
    check_openai_unknown_model,
    check_anthropic_messages,
    check_anthropic_messages_stream,
    check_anthropic_wrong_token,
]


def main():
    print(f"keyflow at {URL}; openai {openai.__version__}, anthropic {anthropic.__version__}")
    passed = failed = 0
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            check()
        except Exception:  # every failure is reported, the other checks still run
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
