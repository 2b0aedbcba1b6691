"""The members service's boundaries: RPC input (camelCase, as the API names
fields, so errors name the fields the client sent) and RPC output."""
from marshmallow import Schema, fields, post_load, validate

from services.common.validation import StrictSchema, Text, country_code, email_address, one_of
from services.members import domain
from services.common.vocabulary import (DEFAULT_LANGUAGE, DEFAULT_VISIBILITY, Constituency,
                                        Language, MemberStatus, OrgType, Visibility)

# who reads a focal point or erases a member's data: a secretariat person's
# name, a token's subject, or "cli" (services/members/safety.py)
MAX_BY_LENGTH = 200


class FocalPointInput(StrictSchema):
    name = Text(required=True, min_length=1, max_length=200)
    email = Text(required=True, min_length=3, max_length=254, validate=email_address)
    phone = Text(load_default=None, allow_none=True, max_length=40,
                 validate=validate.Regexp(r"^[0-9+()\-. ]*$", error="Only digits, spaces and + ( ) - ."))


class MemberInput(StrictSchema):
    name = Text(required=True, min_length=1, max_length=200)
    acronym = Text(load_default=None, allow_none=True, max_length=30)
    org_type = fields.String(required=True, data_key="orgType",
                             validate=one_of(OrgType))
    countries = fields.List(Text(validate=country_code), required=True,
                            validate=validate.Length(min=1, max=250, error="Name at least one country."))
    region = Text(load_default=None, allow_none=True, max_length=100)
    constituencies = fields.List(fields.String(validate=one_of(Constituency)),
                                 required=True,
                                 validate=validate.Length(min=1, error="Name at least one constituency."))
    focal_point = fields.Nested(FocalPointInput, required=True, data_key="focalPoint")
    # of its e-mails and pages; null or left out: DEFAULT_LANGUAGE
    language = fields.String(load_default=None, allow_none=True, validate=one_of(Language))
    # who may learn it exists (DOMAIN.md section 11); null or left out: DEFAULT_VISIBILITY
    visibility = fields.String(load_default=None, allow_none=True, validate=one_of(Visibility))

    @post_load
    def normalise(self, data, **kwargs):
        data["countries"] = list(dict.fromkeys(c.upper() for c in data["countries"]))
        data["constituencies"] = list(dict.fromkeys(data["constituencies"]))
        data["acronym"] = data.get("acronym") or None
        data["language"] = str(data.get("language") or DEFAULT_LANGUAGE)
        data["visibility"] = str(data.get("visibility") or DEFAULT_VISIBILITY)
        return data


class LanguageInput(StrictSchema):
    language = fields.String(required=True, validate=one_of(Language))


class VisibilityInput(StrictSchema):
    visibility = fields.String(required=True, validate=one_of(Visibility))


class ByInput(StrictSchema):
    """Who asks (a focal point's reader, an erasure's author): text, never
    an address the service would keep."""
    by = Text(required=True, min_length=1, max_length=MAX_BY_LENGTH)


class ListFilter(StrictSchema):
    status = fields.String(load_default=None, allow_none=True,
                           validate=one_of(MemberStatus))
    constituency = fields.String(load_default=None, allow_none=True,
                                 validate=one_of(Constituency))
    country = Text(load_default=None, allow_none=True, validate=country_code)
    search = Text(load_default=None, allow_none=True, max_length=200)
    # the gateway gives PUBLIC for ANONYMOUS (DOMAIN.md section 11)
    visibility = fields.String(load_default=None, allow_none=True, validate=one_of(Visibility))


class HistoryEntry(Schema):
    at = fields.AwareDateTime()
    status = fields.String()
    note = fields.String(allow_none=True)


class FocalPoint(Schema):
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)


class MemberView(Schema):
    """What the members service returns over RPC (focal point included: the
    gateway decides who may see it)."""
    id = fields.String(attribute="_id")
    name = fields.String()
    acronym = fields.String(allow_none=True)
    org_type = fields.String()
    countries = fields.List(fields.String())
    region = fields.String(allow_none=True)
    constituencies = fields.List(fields.String())
    status = fields.String()
    mou_signed_at = fields.AwareDateTime(allow_none=True)
    joined_at = fields.AwareDateTime(allow_none=True)
    can_vote = fields.Boolean()
    # None once the member's personal data is erased (erased_at)
    focal_point = fields.Nested(FocalPoint, allow_none=True)
    history = fields.List(fields.Nested(HistoryEntry))
    revision = fields.Integer()
    # members stored before languages existed have none: they read EN
    language = fields.String(dump_default=str(DEFAULT_LANGUAGE))
    # members stored before visibility existed are PUBLIC (a start-up
    # migration stores it on them: services/members/dependencies.py)
    visibility = fields.String(dump_default=str(DEFAULT_VISIBILITY))
    # when its personal data was erased (DOMAIN.md section 11); None if never
    erased_at = fields.AwareDateTime(allow_none=True, dump_default=None)


class FocalPointReadView(Schema):
    """One focal-point read as members answers it: when, and who (never what)."""
    at = fields.AwareDateTime()
    by = fields.String()


_dump_member = MemberView().dump


def member_view(doc):
    """A member's document as MemberView, with `can_vote` (domain.can_vote)."""
    return _dump_member({**doc, "can_vote": domain.can_vote(doc)})
