"""Gradio's ChatInterface relaying the benchmark's upstream (run by bench/load/peers.py in a
throwaway virtualenv): `python peer_gradio.py PORT UPSTREAM_URL`.

The queue's concurrency limit is lifted (Gradio runs one event at a time by default), so that
Gradio, like Concierge, streams every visitor's answer at once.
"""

import sys

import gradio as gr
import openai

PORT, UPSTREAM = int(sys.argv[1]), sys.argv[2]
client = openai.AsyncOpenAI(base_url=UPSTREAM, api_key="not-needed", max_retries=0)


async def respond(message, history):
    stream = await client.chat.completions.create(
        model="bench-model", messages=[{"role": "user", "content": message}], stream=True
    )
    text = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
            yield text


demo = gr.ChatInterface(respond)
demo.queue(default_concurrency_limit=None, max_size=None)
demo.launch(server_name="127.0.0.1", server_port=PORT, show_error=True)
