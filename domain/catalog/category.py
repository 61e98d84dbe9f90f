"""A product category, addressed by its slug."""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, DomainError, NotFoundError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class CategoryNotFoundError(NotFoundError, title="Category not found"): ...


class CategoryExistsError(ConflictError, title="Category exists"): ...


def category_id(slug: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:category:{slug}")


def check_slug(slug: str) -> None:
    if not (1 <= len(slug) <= 64 and SLUG.match(slug)):
        raise DomainError("slug must be lowercase words joined by hyphens", field="slug")


class Category(Aggregate):
    class Created(Aggregate.Created):
        slug: str
        name: str
        description: str
        featured: bool

    class Updated(Aggregate.Event):
        name: str
        description: str
        featured: bool

    class Removed(Aggregate.Event):
        pass

    @staticmethod
    def create_id(slug: str) -> UUID:
        return category_id(slug)

    @event(Created)
    def __init__(self, slug: str, name: str, description: str, featured: bool) -> None:
        self.slug = slug
        self.name = name
        self.description = description
        self.featured = featured
        self.removed = False

    def update(self, *, name: str, description: str, featured: bool) -> None:
        if self.removed:
            raise CategoryNotFoundError(f"category {self.slug} was removed")
        if (name, description, featured) != (self.name, self.description, self.featured):
            self._updated(name=name, description=description, featured=featured)

    @event(Updated)
    def _updated(self, name: str, description: str, featured: bool) -> None:
        self.name, self.description, self.featured = name, description, featured

    def remove(self) -> None:
        if self.removed:
            raise CategoryNotFoundError(f"category {self.slug} was removed")
        self._removed()

    @event(Removed)
    def _removed(self) -> None:
        self.removed = True
