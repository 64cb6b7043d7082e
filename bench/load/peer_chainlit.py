"""Chainlit relaying the benchmark's upstream (run by bench/load/peers.py in a throwaway
virtualenv): `chainlit run peer_chainlit.py --headless --host 127.0.0.1 --port PORT`, with the
upstream's URL in BENCH_UPSTREAM."""

import os

import chainlit as cl
import openai

client = openai.AsyncOpenAI(
    base_url=os.environ["BENCH_UPSTREAM"], api_key="not-needed", max_retries=0
)


@cl.on_message
async def main(message: cl.Message):
    reply = cl.Message(content="")
    stream = await client.chat.completions.create(
        model="bench-model", messages=[{"role": "user", "content": message.content}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            await reply.stream_token(chunk.choices[0].delta.content)
    await reply.send()
