"""Company scoping and soft delete, enforced in one place.

`CompanySession` is bound to one company. Every ORM query through it is filtered to that
company's rows that are not soft-deleted, every new or changed row is checked to belong to that
company before it is flushed, `delete()` soft-deletes, and statements the filter cannot see into
(raw SQL, bulk inserts, bulk deletes) are refused. Code that uses it cannot forget the scope.
"""

import uuid
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlmodel import Session

from db.models import TENANT_TABLES, Company, CompanyRecord, Record, Tenant, utcnow

ALL_TABLES = (Tenant, Company, *TENANT_TABLES)


class ScopeError(PermissionError):
    """An operation would cross the company boundary or bypass the scope."""


class CompanySession(Session):
    def __init__(self, bind: Any, company_id: uuid.UUID, **kwargs: Any) -> None:
        super().__init__(bind, **kwargs)
        self.company_id = company_id

    def delete(self, instance: object) -> None:
        """Soft delete: rows are never removed, only marked with `deleted_at`."""
        if not isinstance(instance, Record):
            raise ScopeError(f"cannot delete {type(instance).__name__}")
        instance.deleted_at = utcnow()
        self.add(instance)


@event.listens_for(CompanySession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not state.is_orm_statement:
        raise ScopeError("raw SQL is not allowed in a company session; use ORM statements")
    if state.is_insert:
        raise ScopeError("bulk INSERT is not allowed in a company session; add objects instead")
    if state.is_delete:
        raise ScopeError("DELETE is not allowed in a company session; use session.delete()")
    if state.is_update and "company_id" in _updated_columns(state.statement):
        raise ScopeError("UPDATE cannot move rows to another company")
    if state.is_column_load or state.is_relationship_load:
        return  # already carries the criteria of the statement that loaded the parent
    company_id = state.session.company_id
    options = [
        with_loader_criteria(table, lambda cls: cls.company_id == company_id, include_aliases=True)
        for table in TENANT_TABLES
    ]
    options.append(
        with_loader_criteria(Company, lambda cls: cls.id == company_id, include_aliases=True)
    )
    options.append(
        with_loader_criteria(
            Tenant,
            lambda cls: cls.id.in_(select(Company.tenant_id).where(Company.id == company_id)),
            include_aliases=True,
        )
    )
    if not state.execution_options.get("include_deleted", False):
        options.extend(
            with_loader_criteria(table, lambda cls: cls.deleted_at.is_(None), include_aliases=True)
            for table in ALL_TABLES
        )
    state.statement = state.statement.options(*options)


def _updated_columns(statement: Any) -> set[str]:
    """Names of the columns an ORM UPDATE sets (SQLAlchemy keeps them in `_values`)."""
    return {getattr(column, "key", column) for column in (statement._values or {})}


@event.listens_for(CompanySession, "before_flush")
def _guard_writes(session: CompanySession, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, CompanyRecord):
            if obj.company_id is None:
                obj.company_id = session.company_id
            elif obj.company_id != session.company_id:
                raise ScopeError(f"{type(obj).__name__} belongs to another company")
        elif isinstance(obj, (Company, Tenant)):
            raise ScopeError("companies and tenants are created through a system session")
    for obj in session.dirty:
        if isinstance(obj, CompanyRecord):
            history = inspect(obj).attrs.company_id.history
            if history.has_changes() or obj.company_id != session.company_id:
                raise ScopeError(f"{type(obj).__name__} cannot move to another company")
