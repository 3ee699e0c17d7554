"""Images through chat, driven by the official OpenAI SDK.

Reads KEYFLOW_URL and KEYFLOW_TOKEN; asks an image model for `pic:3 16:9`
streamed and not, and checks three markdown images come back. Prints
`N passed, N failed` last and exits non-zero on any failure.
"""

import os
import re
import sys
import traceback

from openai import OpenAI

MODEL = os.environ.get("KEYFLOW_IMAGE_CHAT_MODEL", "Tongyi-MAI/Z-Image-Turbo")
IMAGE = re.compile(r"!\[image(\d+)\|[^\]]*\]\((\S+?)\)")

client = OpenAI(base_url=os.environ["KEYFLOW_URL"] + "/v1", api_key=os.environ["KEYFLOW_TOKEN"], max_retries=0)
PROMPT = "画一只可爱的猫 pic:3 16:9"


def images_in(text):
    found = IMAGE.findall(text)
    assert len(found) == 3, f"expected 3 images, got {len(found)}: {text}"
    assert sorted(int(n) for n, _ in found) == [1, 2, 3], found
    return [url for _, url in found]


def check_non_stream():
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}])
    assert reply.object == "chat.completion"
    assert reply.choices[0].finish_reason == "stop"
    images_in(reply.choices[0].message.content)
    assert reply.usage is not None


def check_stream():
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True)
    parts, finish = [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "stop", finish
    images_in("".join(parts))


def main():
    passed = failed = 0
    for check in (check_non_stream, check_stream):
        try:
            check()
            print(f"ok   {check.__name__}")
            passed += 1
        except Exception:
            print(f"FAIL {check.__name__}")
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
