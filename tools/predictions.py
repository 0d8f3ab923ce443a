"""The `predictions` table as the models' jobs and their readers use it: each model's rows for a
day replace that day's earlier rows, and readers take the latest day a model wrote."""

import uuid
from datetime import date

from sqlalchemy import func
from sqlmodel import select

from db.models import Prediction
from db.scope import CompanySession


def latest_day(
    session: CompanySession, model: str, store_id: uuid.UUID | None = None
) -> date | None:
    """The last day `model` wrote predictions for (for one store, when given)."""
    query = select(func.max(Prediction.predicted_for)).where(Prediction.model == model)
    if store_id is not None:
        query = query.where(Prediction.store_id == store_id)
    return session.exec(query).one()


def replace_day(session: CompanySession, model: str, day: date, rows: list[Prediction]) -> None:
    """The day's predictions of `model` become `rows` (a job run again replaces, not adds)."""
    for old in session.exec(
        select(Prediction).where(Prediction.model == model, Prediction.predicted_for == day)
    ):
        session.delete(old)
    session.add_all(rows)
    session.commit()
