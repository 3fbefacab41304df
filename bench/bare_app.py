"""The baseline for the webhook benchmark: a FastAPI endpoint that only answers 200."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/callback")
async def callback() -> dict[str, str]:
    return {}


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
