"""Saved templates: reusable content, checked on every save; communications get a copy."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chalicelib.domain.errors import NotFound, ValidationError
from chalicelib.domain.models import Admin, Content, Page, Template, new_id, utc_now
from chalicelib.domain.ports import TemplateStore
from chalicelib.domain.rendering import template_errors


@dataclass(frozen=True)
class TemplateFields:
    name: str
    default_language: str
    content: Content


@dataclass
class TemplateService:
    store: TemplateStore

    def create(self, fields: TemplateFields, by: Admin) -> Template:
        _check(fields.content)
        template = Template(
            template_id=new_id(),
            name=fields.name,
            default_language=fields.default_language,
            content=fields.content,
            created_by=by,
        )
        self.store.create(template)
        return template

    def get(self, template_id: str) -> Template:
        template = self.store.get(template_id)
        if template is None:
            raise NotFound(f"template {template_id} not found")
        return template

    def list_page(self, cursor: str | None, limit: int) -> Page[Template]:
        return self.store.list(cursor, limit)

    def update(self, template_id: str, fields: TemplateFields) -> Template:
        _check(fields.content)
        updated = replace(
            self.get(template_id),
            name=fields.name,
            default_language=fields.default_language,
            content=fields.content,
            updated_at=utc_now(),
        )
        self.store.save(updated)
        return updated

    def delete(self, template_id: str) -> None:
        if not self.store.delete(template_id):
            raise NotFound(f"template {template_id} not found")


def _check(content: Content) -> None:
    errors = template_errors(content)
    if errors:
        raise ValidationError("the content has template errors", errors)
