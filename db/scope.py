"""Company scoping and soft delete, enforced in one place.

`CompanySession` is bound to one company. Every ORM statement through it is filtered to that
company's rows that are not soft-deleted (SQLAlchemy's `with_loader_criteria`, which reaches
joins, aliases and subqueries of mapped classes); every new or changed row is checked to belong
to that company before it is flushed; `delete()` soft-deletes. What the filter cannot see into is
refused: raw SQL and SQL text fragments, Core `Table`/`Column` objects of our tables, statements
built `from_statement()`, bulk INSERT/DELETE, UPDATE by primary key lists, the legacy bulk
methods, and changes to the company's own tenant or identity.
"""

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Table, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.sql.selectable import Select
from sqlmodel import Session

from db.models import TENANT_TABLES, Company, CompanyRecord, Record, Tenant, UnroutedMessage, utcnow

ALL_TABLES = (Tenant, Company, *TENANT_TABLES)
SYSTEM_TABLES = (UnroutedMessage,)  # above companies: a company session never sees them


class ScopeError(PermissionError):
    """An operation would cross the company boundary or bypass the scope."""


class CompanySession(Session):
    def __init__(self, bind: Any, company_id: uuid.UUID, **kwargs: Any) -> None:
        super().__init__(bind, **kwargs)
        self.company_id = company_id

    def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        """`Session.get`, minus rows of other companies or soft-deleted rows that an earlier
        `include_deleted` query left in the identity map."""
        row = super().get(entity, ident, **kwargs)
        options = kwargs.get("execution_options") or {}
        if isinstance(row, Record) and row.deleted_at is not None:
            return row if options.get("include_deleted") else None
        return row

    def delete(self, instance: object) -> None:
        """Soft delete: rows are never removed, only marked with `deleted_at`."""
        if not isinstance(instance, CompanyRecord):
            raise ScopeError(f"cannot delete {type(instance).__name__} in a company session")
        instance.deleted_at = utcnow()
        self.add(instance)

    def bulk_save_objects(self, *args: Any, **kwargs: Any) -> None:
        raise ScopeError("bulk_save_objects bypasses the company checks; add objects instead")

    def bulk_insert_mappings(self, *args: Any, **kwargs: Any) -> None:
        raise ScopeError("bulk_insert_mappings bypasses the company checks; add objects instead")

    def bulk_update_mappings(self, *args: Any, **kwargs: Any) -> None:
        raise ScopeError("bulk_update_mappings bypasses the company checks; use update()")


def _children(element: ClauseElement) -> Iterator[ClauseElement]:
    """The parts of a statement as written; a SELECT's FROM list derived from its columns is
    left out, since those tables come from mapped columns that carry the criteria."""
    if isinstance(element, Select):
        omit = ("_from_obj", "_correlate", "_correlate_except")
        yield from super(Select, element).get_children(omit_attrs=omit)
        yield from element._from_obj
    else:
        yield from element.get_children()


def unscoped_parts(statement: ClauseElement) -> list[str]:
    """Parts of `statement` the loader criteria cannot filter: SQL text, and our tables or
    their columns used as plain Core objects rather than through the mapped classes."""
    # The primary-key clauses the ORM itself builds for get() and refresh() name plain columns
    # of the mapped table; the criteria are added to those statements like to any other.
    seen = {id(inspect(table)._get_clause[0]) for table in ALL_TABLES}
    found, stack = [], [statement]
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        if "parententity" in getattr(element, "_annotations", {}):
            continue  # reached through a mapped class: filtered
        if isinstance(element, TextClause):
            found.append("SQL text")
        elif isinstance(element, Table):
            found.append(f"table {element.name}")
        elif isinstance(element, Column) and isinstance(element.table, Table):
            found.append(f"column {element.table.name}.{element.name}")
        else:
            stack.extend(_children(element))
    return found


@event.listens_for(CompanySession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not state.is_orm_statement:
        raise ScopeError("raw SQL is not allowed in a company session; use ORM statements")
    if state.is_from_statement:
        raise ScopeError("from_statement() is not allowed in a company session")
    if state.is_insert:
        raise ScopeError("bulk INSERT is not allowed in a company session; add objects instead")
    if state.is_delete:
        raise ScopeError("DELETE is not allowed in a company session; use session.delete()")
    if state.is_update:
        _check_update(state)
    if any(mapper.class_ in SYSTEM_TABLES for mapper in state.all_mappers):
        raise ScopeError("unrouted messages belong to no company; use a system session")
    if state.is_column_load or state.is_relationship_load:
        return  # already carries the criteria of the statement that loaded the parent
    unscoped = unscoped_parts(state.statement)
    if unscoped:
        raise ScopeError(
            f"{', '.join(sorted(set(unscoped)))} cannot be filtered by company; "
            "use the mapped classes"
        )
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


def _check_update(state: ORMExecuteState) -> None:
    if state.is_executemany:
        raise ScopeError("UPDATE by primary key lists is not allowed in a company session")
    if state.bind_mapper is not None and state.bind_mapper.class_ in (Company, Tenant):
        raise ScopeError("companies and tenants are changed through a system session")
    values = {getattr(column, "key", column) for column in (state.statement._values or {})}
    values |= set(state.parameters or {})
    if "company_id" in values:
        raise ScopeError("UPDATE cannot move rows to another company")


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
        elif isinstance(obj, SYSTEM_TABLES):
            raise ScopeError(f"{type(obj).__name__} is written through a system session")
    for obj in session.dirty:
        if isinstance(obj, CompanyRecord):
            history = inspect(obj).attrs.company_id.history
            if history.has_changes() or obj.company_id != session.company_id:
                raise ScopeError(f"{type(obj).__name__} cannot move to another company")
        elif isinstance(obj, Tenant):
            raise ScopeError("tenants are changed through a system session")
        elif isinstance(obj, Company):
            state = inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in ("id", "tenant_id")):
                raise ScopeError("a company cannot change its tenant in a company session")
