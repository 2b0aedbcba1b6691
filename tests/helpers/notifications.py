"""Notifications as the tests observe them: members with addresses of their
own, the mails the notifications service queued (its `mails` collection), and
what the test's real SMTP server received (tests/helpers/mail.py), matched by
Message-ID."""
import uuid

from tests.support import member_input, wait_for, wait_read_models

NOTIFICATIONS = """query($unread: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unread, first: $first, after: $after) {
    totalCount unreadCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind at subject body link read } } } }"""
MARK_READ = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }"
SET_PREFERENCES = """mutation($i: PreferencesInput!) { setPreferences(input: $i) {
  language consultationOpened reminders outcomes } }"""
SECRETARIAT = "secretariat@coalition.test"  # tests/support.py sets SECRETARIAT_EMAIL to it


def new_address():
    return f"fp-{uuid.uuid4().hex[:12]}@example.org"


def member_data(address=None, language=None, **overrides):
    data = member_input(focalPoint={"name": "Focal Point", "email": address or new_address(),
                                    "phone": None}, **overrides)
    if language:
        data["language"] = language
    return data


def founders_with_addresses(stack, count, language=None):
    """[(member id, its focal point's address)] of `count` new founding
    members (ACTIVE, MoU signed), known to every read model."""
    made = []
    with stack.rpc() as rpc:
        for _ in range(count):
            data = member_data(language=language)
            made.append((rpc.members.register_founding_member(data)["id"],
                         data["focalPoint"]["email"]))
    for member_id, _ in made:
        wait_read_models(stack, member_id, can_vote=True)
        wait_for(lambda: stack.db("notifications").members.find_one({"_id": member_id}), 20, 0.1,
                 "notifications heard of the member")
    return made


def mails(stack, **query):
    """The queued mails (any status) matching `query` (recipient, kind, status ...)."""
    return list(stack.db("notifications").mails.find(query))


def received(stack, address):
    """Messages the SMTP server accepted for `address`."""
    return stack.mail.messages_to(address)


def received_of(stack, recipient, kind, address):
    """Messages to `address` that are the mails of `kind` for `recipient`."""
    ids = {m["message_id"] for m in mails(stack, recipient=recipient, kind=kind)}
    return [m for m in received(stack, address) if m.message_id in ids]


def wait_received(stack, recipient, kind, address, count=1, timeout=30, about=None):
    """The `count` messages of `kind` to `address` (waits for them), and no
    more once the server has been quiet a moment; `about`: only messages
    whose text holds it (a consultation's id, to tell its mails from others)."""
    def got():
        found = received_of(stack, recipient, kind, address)
        return [m for m in found if about is None or about in m.text]
    wait_for(lambda: len(got()) >= count, timeout, 0.1, f"{count} {kind} mail(s) for {recipient}")
    stack.mail.settle(quiet=0.4)
    found = got()
    assert len(found) == count, [m.subject for m in found]
    return found


def inbox(stack, token, unread=None, first=50, after=None):
    return stack.gql(NOTIFICATIONS, {"unread": unread, "first": first, "after": after},
                     token)["notifications"]


def set_preferences(stack, token, **switches):
    return stack.gql(SET_PREFERENCES, {"i": switches}, token)["setPreferences"]
