"""The notifications service's boundaries: RPC input (camelCase, as the API
names fields, so errors name the fields the client sent) and RPC output.

No message here ever repeats what it refuses: an e-mail address given to
`send_sign_in` is never echoed, in an error or anywhere else."""
from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate

from services.common.validation import StrictSchema, Text, one_of
from services.common.vocabulary import OPT_OUTS, SECRETARIAT, Language, MailStatus
from services.notifications.domain import SIGN_IN_RECIPIENT

MAX_ID = 100
MAX_MAIL_ID = 300  # "<source>:<recipient>:<kind>"
MAX_IDS = 1000
MAX_MAILS = 500
RETRY_LIMIT = MAX_IDS  # FAILED mails queued again by one retry_mails call


def recipient() -> Text:
    """A member id or "secretariat" (the gateway says whose notifications they are)."""
    return Text(required=True, min_length=1, max_length=MAX_ID)


def address_shape(value: str) -> None:
    """An e-mail address, refused without repeating it (it is personal data)."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError("Not a valid e-mail address.") from None


class NotificationsQuery(StrictSchema):
    recipient = recipient()
    unread_only = fields.Boolean(load_default=False, data_key="unreadOnly")
    first = fields.Integer(load_default=50, strict=True)
    after = fields.String(load_default=None, allow_none=True)


class MarkReadInput(StrictSchema):
    recipient = recipient()
    ids = fields.List(Text(max_length=MAX_ID), required=True,
                      validate=validate.Length(max=MAX_IDS, error=f"At most {MAX_IDS} ids."))


class RecipientInput(StrictSchema):
    recipient = recipient()


class PreferencesInput(StrictSchema):
    """Each switch left out (or null) stays as it is."""
    language = fields.String(load_default=None, allow_none=True, validate=one_of(Language))
    consultation_opened = fields.Boolean(load_default=None, allow_none=True,
                                         data_key="consultationOpened")
    reminders = fields.Boolean(load_default=None, allow_none=True)
    outcomes = fields.Boolean(load_default=None, allow_none=True)


class SignInInput(StrictSchema):
    """`language` None: the recipient's; `recipient` (a member id or
    "secretariat") None: unknown, so DEFAULT_LANGUAGE; `invited`: the name of
    a person just added to the secretariat (the mail is then an invitation)."""
    address = Text(required=True, min_length=3, max_length=254, validate=address_shape)
    code = Text(required=True, min_length=8, max_length=100)
    language = fields.String(load_default=None, allow_none=True, validate=one_of(Language))
    recipient = Text(load_default=None, allow_none=True, min_length=1, max_length=MAX_ID)
    invited = Text(load_default=None, allow_none=True, min_length=1, max_length=200)


# recipients that are no member: never a member's data to export or erase
NOT_MEMBERS = (SECRETARIAT, SIGN_IN_RECIPIENT)


class MemberIdInput(StrictSchema):
    """A member's id (of member_data and erase_member_data)."""
    member_id = Text(required=True, min_length=1, max_length=MAX_ID, data_key="memberId",
                     validate=validate.NoneOf(NOT_MEMBERS, error="Not a member's id."))


class MailsQuery(StrictSchema):
    status = fields.String(load_default=None, allow_none=True, validate=one_of(MailStatus))
    limit = fields.Integer(load_default=50, strict=True, validate=validate.Range(
        min=1, max=MAX_MAILS, error=f"From 1 to {MAX_MAILS} mails at a time."))


class RetryInput(StrictSchema):
    """The FAILED mails to queue again: those named (at most RETRY_LIMIT), or
    without ids the oldest RETRY_LIMIT (the caller asks again for more)."""
    ids = fields.List(Text(min_length=1, max_length=MAX_MAIL_ID), load_default=None,
                      allow_none=True, validate=validate.Length(
                          max=RETRY_LIMIT, error=f"At most {RETRY_LIMIT} ids at a time."))


def view(name: str, texts: str, **others: fields.Field) -> type[Schema]:
    """An output schema: `texts` names its string fields, `others` the rest."""
    return Schema.from_dict({**{text: fields.String() for text in texts.split()}, **others},
                            name=name)


NotificationView = view("NotificationView", "kind subject body link",
                        id=fields.String(attribute="_id"), at=fields.AwareDateTime(),
                        read=fields.Boolean())

# {consultation_opened, reminders, outcomes: bool, language}
PreferencesView = Schema.from_dict({**{switch: fields.Boolean() for switch in OPT_OUTS},
                                    "language": fields.String()}, name="PreferencesView")

# a queued mail for operators: never its address (only SIGN_IN mails have one)
MAIL_FIELDS: dict[str, fields.Field] = {
    "id": fields.String(attribute="_id"), "attempts": fields.Integer(),
    "error": fields.String(allow_none=True), "created_at": fields.AwareDateTime(),
    "sent_at": fields.AwareDateTime(allow_none=True)}
MailView = view("MailView", "kind recipient status subject message_id", **MAIL_FIELDS)

# one mail with its text (None for a SIGN_IN mail: its text holds a code)
MailDetailView = view("MailDetailView", "kind recipient status subject message_id language",
                      **MAIL_FIELDS, text=fields.String(allow_none=True),
                      link=fields.String(allow_none=True),
                      next_attempt_at=fields.AwareDateTime(allow_none=True))
