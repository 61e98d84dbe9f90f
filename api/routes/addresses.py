"""Address book: /api/v1/consumer/addresses and /api/v1/consumer/address/..."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Response, status
from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, Customer, CustomerCall
from api.routing import Router
from api.text import RequestModel
from identity import profiles

router = Router(prefix="/api/v1/consumer", tags=["addresses"])

PINCODE = r"^[A-Za-z0-9][A-Za-z0-9 -]{2,9}$"


class AddressIn(RequestModel):
    house_number: str = Field(min_length=1, max_length=32)
    street: str = Field(min_length=1, max_length=200)
    landmark: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=120)
    society: str | None = Field(default=None, max_length=120)
    pincode: str = Field(pattern=PINCODE)
    label: str | None = Field(default=None, max_length=40, description="e.g. Home, Work")

    model_config = {"json_schema_extra": {"examples": [{
        "house_number": "B-1204", "street": "Sarjapur Road", "landmark": "Near Wipro gate",
        "city": "Bengaluru", "society": "Prestige Lakeside", "pincode": "560035", "label": "Home",
    }]}}


class AddressEdit(RequestModel):
    house_number: str | None = Field(default=None, min_length=1, max_length=32)
    street: str | None = Field(default=None, min_length=1, max_length=200)
    landmark: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, min_length=1, max_length=120)
    society: str | None = Field(default=None, max_length=120)
    pincode: str | None = Field(default=None, pattern=PINCODE)
    label: str | None = Field(default=None, max_length=40)

    model_config = {"json_schema_extra": {"examples": [{"landmark": "opposite the park", "label": "Home"}]}}


class AddressOut(BaseModel):
    id: str
    house_number: str
    street: str
    landmark: str | None
    city: str
    society: str | None
    pincode: str
    label: str | None
    created_at: str
    updated_at: str


class AddressList(BaseModel):
    count: int
    results: list[AddressOut]


REQUIRED = ("house_number", "street", "city", "pincode")


def shape(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in profiles.ADDRESS_FIELDS}
    out.update(id=str(row["id"]), created_at=row["created_at"].isoformat(),
               updated_at=row["updated_at"].isoformat())
    return out


@router.get("/addresses", response_model=AddressList, summary="Your saved addresses")
def list_addresses(user: Customer, conn: ConnectionDep) -> dict[str, Any]:
    rows = [shape(r) for r in profiles.list_addresses(conn, user.id)]
    return {"count": len(rows), "results": rows}


@router.post("/address/add", status_code=status.HTTP_201_CREATED, response_model=AddressOut,
             summary="Add an address")
def add_address(body: AddressIn, me: CustomerCall) -> dict[str, Any]:
    return shape(profiles.add_address(me.conn, me.user.id, now=me.runtime.clock(), **body.model_dump()))


@router.post("/address/{address_id}/edit", response_model=AddressOut, summary="Change an address")
def edit_address(address_id: UUID, body: AddressEdit, me: CustomerCall) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for key in REQUIRED:
        if key in changes and changes[key] is None:
            del changes[key]  # required fields cannot be blanked
    row = profiles.edit_address(me.conn, me.user.id, address_id, now=me.runtime.clock(), **changes)
    return shape(row)


@router.post("/address/{address_id}/delete", status_code=status.HTTP_204_NO_CONTENT,
             summary="Delete an address (kept for past orders, hidden from the list)")
def delete_address(address_id: UUID, me: CustomerCall) -> Response:
    profiles.delete_address(me.conn, me.user.id, address_id, now=me.runtime.clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
