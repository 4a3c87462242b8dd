"""Demo documents each test company owns, and their UBL-style XML.

Generated deterministically at import so every run, test and screenshot shows the same
invoices. One document per company is "large": its XML is streamed, never held in memory, to
prove the client streams it through as well.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sandbox.users import User

_NAMESPACE = uuid.UUID("8d6f3e1a-2c4b-4f7e-9a0d-5b1c6e2f7a90")
_CURRENCIES = {"Demo Company AB": "SEK", "Alice Trading Ltd": "GBP", "Bob Logistics GmbH": "EUR"}
_PARTNERS = (
    "Nordic Paper Supplies AB",
    "Baltic Freight OY",
    "Alpine Office GmbH",
    "Iberia Components S.L.",
    "Thames Catering Ltd",
)
_STATUSES = ("delivered", "received", "approved", "paid", "rejected")
DOCUMENTS_PER_COMPANY = 10


@dataclass(frozen=True)
class Document:
    """One invoice or credit note in a company's Pagero mailbox."""

    id: str
    document_type: str
    direction: str
    document_number: str
    issue_date: str
    sender_name: str
    receiver_name: str
    currency: str
    total_amount: float
    status: str
    company_id: str
    file_id: str
    large: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "documentType": self.document_type,
            "direction": self.direction,
            "documentNumber": self.document_number,
            "issueDate": self.issue_date,
            "senderName": self.sender_name,
            "receiverName": self.receiver_name,
            "currency": self.currency,
            "totalAmount": self.total_amount,
            "status": self.status,
            "companyId": self.company_id,
            "fileId": self.file_id,
            "large": self.large,
        }


def _documents_for(user: User) -> list[Document]:
    documents = []
    for n in range(DOCUMENTS_PER_COMPANY):
        partner = _PARTNERS[n % len(_PARTNERS)]
        direction = "inbound" if n % 2 == 0 else "outbound"
        credit = n % 4 == 3
        large = n == DOCUMENTS_PER_COMPANY - 1
        sender, receiver = (
            (partner, user.company_name) if direction == "inbound" else (user.company_name, partner)
        )
        amount = round(((n + 1) * 1379.35 + int(user.company_id) % 97 * 11.5) % 48000 + 120, 2)
        documents.append(
            Document(
                id=str(uuid.uuid5(_NAMESPACE, f"document/{user.company_id}/{n}")),
                document_type="CreditNote" if credit else "Invoice",
                direction=direction,
                document_number=f"{'CN' if credit else 'INV'}-2024-{user.company_id[-3:]}{n:03d}",
                issue_date=(date(2024, 11, 28) - timedelta(days=9 * n + 2)).isoformat(),
                sender_name=sender,
                receiver_name=receiver,
                currency=_CURRENCIES.get(user.company_name, "EUR"),
                total_amount=-amount if credit else amount,
                status=_STATUSES[n % len(_STATUSES)],
                company_id=user.company_id,
                file_id=str(uuid.uuid5(_NAMESPACE, f"file/{user.company_id}/{n}")),
                large=large,
            )
        )
    documents.sort(key=lambda d: (d.issue_date, d.id), reverse=True)
    return documents


@functools.cache
def _company(user: User) -> list[Document]:
    """Built on first use and kept: a few per test user, one per load-test user."""
    return _documents_for(user)


def company_documents(user: User, direction: str | None = None) -> list[Document]:
    """The documents of the user's company, newest first; other companies' never are."""
    documents = _company(user)
    if direction:
        documents = [d for d in documents if d.direction == direction]
    return documents


def find_document(user: User, document_id: str) -> Document | None:
    return next((d for d in _company(user) if d.id == document_id), None)


def find_by_file(user: User, file_id: str) -> Document | None:
    return next((d for d in _company(user) if d.file_id == file_id), None)


# -- XML ---------------------------------------------------------------------------------

_UBL = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
_QUANTITY = {"Invoice": "InvoicedQuantity", "CreditNote": "CreditedQuantity"}
_LINE = (
    "  <cac:{kind}Line><cbc:ID>{n}</cbc:ID>"
    '<cbc:{quantity} unitCode="EA">1</cbc:{quantity}>'
    '<cbc:LineExtensionAmount currencyID="{currency}">{amount:.2f}</cbc:LineExtensionAmount>'
    "<cac:Item><cbc:Name>Pallet of A4 copy paper</cbc:Name></cac:Item></cac:{kind}Line>\n"
)


def _xml_head(doc: Document) -> str:
    kind = doc.document_type
    amount = f"{abs(doc.total_amount):.2f}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{kind} xmlns="{_UBL[kind]}"\n'
        '  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"\n'
        '  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
        "  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#"
        "urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>\n"
        f"  <cbc:ID>{escape(doc.document_number)}</cbc:ID>\n"
        f"  <cbc:IssueDate>{doc.issue_date}</cbc:IssueDate>\n"
        f"  <cbc:DocumentCurrencyCode>{doc.currency}</cbc:DocumentCurrencyCode>\n"
        "  <cac:AccountingSupplierParty><cac:Party><cac:PartyName>"
        f"<cbc:Name>{escape(doc.sender_name)}</cbc:Name>"
        "</cac:PartyName></cac:Party></cac:AccountingSupplierParty>\n"
        "  <cac:AccountingCustomerParty><cac:Party><cac:PartyName>"
        f"<cbc:Name>{escape(doc.receiver_name)}</cbc:Name>"
        "</cac:PartyName></cac:Party></cac:AccountingCustomerParty>\n"
        "  <cac:LegalMonetaryTotal>"
        f'<cbc:PayableAmount currencyID="{doc.currency}">{amount}</cbc:PayableAmount>'
        "</cac:LegalMonetaryTotal>\n"
    )


def _xml_line(doc: Document, n: int, amount: float) -> str:
    kind = doc.document_type
    return _LINE.format(
        kind=kind, quantity=_QUANTITY[kind], n=n, currency=doc.currency, amount=amount
    )


def _xml_tail(doc: Document) -> str:
    return f"</{doc.document_type}>\n"


def render_document(doc: Document) -> bytes:
    """The whole XML of an ordinary (small) document."""
    lines = [_xml_line(doc, n, abs(doc.total_amount) / 3) for n in (1, 2, 3)]
    return (_xml_head(doc) + "".join(lines) + _xml_tail(doc)).encode()


def stream_large_document(doc: Document, size: int) -> tuple[Iterator[bytes], int]:
    """The large document as a generator of chunks, and its exact length in bytes.

    The body is the usual head, as many identical invoice lines as fit, whitespace padding
    (legal between elements) and the closing tag, so it is ``size`` bytes of well-formed XML
    (or just head and tail, if ``size`` is smaller than they are).
    """
    head = _xml_head(doc).encode()
    tail = _xml_tail(doc).encode()
    line = _xml_line(doc, 1, 1.0).encode()
    body = max(size - len(head) - len(tail), 0)
    lines, padding = divmod(body, len(line))
    block_lines = max(1, 65536 // len(line))

    def chunks() -> Iterator[bytes]:
        yield head
        remaining = lines
        block = line * block_lines
        while remaining >= block_lines:
            yield block
            remaining -= block_lines
        if remaining:
            yield line * remaining
        if padding:
            yield b"\n" * padding
        yield tail

    return chunks(), len(head) + lines * len(line) + padding + len(tail)


def file_parts(doc: Document, large_size: int) -> list[dict[str, Any]]:
    """The parts of a document's file: its XML and a rendered PDF copy."""
    if doc.large:
        _, xml_size = stream_large_document(doc, large_size)
    else:
        xml_size = len(render_document(doc))
    stem = doc.document_number
    return [
        {
            "id": str(uuid.uuid5(_NAMESPACE, f"part/{doc.file_id}/xml")),
            "fileId": doc.file_id,
            "name": f"{stem}.xml",
            "mimeType": "application/xml",
            "role": "main",
            "size": xml_size,
        },
        {
            "id": str(uuid.uuid5(_NAMESPACE, f"part/{doc.file_id}/pdf")),
            "fileId": doc.file_id,
            "name": f"{stem}.pdf",
            "mimeType": "application/pdf",
            "role": "visualisation",
            "size": 48213 + len(stem) * 97,
        },
    ]
