"""The LangChain chat model over LLMService, inside a LangGraph graph."""

import asyncio
from typing import Literal, TypedDict

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from test_llm_service import Scripted

from llm.breaker import CircuitBreaker
from llm.chat_model import OpenSalesChatModel
from llm.redact import PiiContext
from llm.service import LLMService


class Intent(BaseModel):
    intent: Literal["order", "order_status", "scheme_question"]


class State(TypedDict):
    text: str
    intent: str


def router_graph(model: OpenSalesChatModel):
    classify = model.with_structured_output(Intent)

    async def route(state: State) -> dict:
        answer = await classify.ainvoke(
            [
                SystemMessage(
                    "Classify the retailer's message: order (wants goods), order_status "
                    "(asks where an order is), scheme_question (asks about offers)."
                ),
                HumanMessage(state["text"]),
            ]
        )
        return {"intent": answer.intent}

    graph = StateGraph(State)
    graph.add_node("route", route)
    graph.add_edge(START, "route")
    graph.add_edge("route", END)
    return graph.compile()


def test_messages_are_converted_and_redacted():
    backend = Scripted("Namaste")
    model = OpenSalesChatModel(
        service=LLMService(backend, CircuitBreaker("chat-unit")),
        pii=PiiContext.build(["Ramesh Patil"], {}),
    )
    messages = [SystemMessage("Be brief."), HumanMessage("I am Ramesh Patil")]
    reply = asyncio.run(model.ainvoke(messages))
    assert reply.content == "Namaste"
    assert reply.usage_metadata["output_tokens"] == 5
    assert backend.requests[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Person A"},
    ]


def test_structured_output_in_a_graph_node_uses_the_schema():
    backend = Scripted('{"intent": "order_status"}')
    graph = router_graph(OpenSalesChatModel(service=LLMService(backend, CircuitBreaker("g"))))
    state = asyncio.run(graph.ainvoke({"text": "where is my order", "intent": ""}))
    assert state["intent"] == "order_status"
    assert backend.requests[0].json_schema == Intent.model_json_schema()


@pytest.mark.e2e
def test_the_bundled_model_routes_in_a_graph(bundled_llm):
    graph = router_graph(OpenSalesChatModel(service=bundled_llm, max_tokens=30))
    results = [
        asyncio.run(graph.ainvoke({"text": text, "intent": ""}))["intent"]
        for text in ("Please send 5 cases of Maggi.", "Where is my order 1234? It has not come.")
    ]
    assert results == ["order", "order_status"]
