"""Who may do what: the roles of the people and systems using the service, and their permissions.

One table (``ROLE_PERMISSIONS``) says what each role may do; the API checks every route against
it and the web pages show only what the signed-in role may use. A role sees and does only its
part: billing staff cannot record a refill, a nurse cannot void a charge, only an admin manages
users and stations.
"""

from enum import StrEnum

__all__ = ["ROLE_PERMISSIONS", "Permission", "Role", "allows"]


class Role(StrEnum):
    """A user account's role (one per account)."""

    NURSE = "nurse"
    PHYSICIAN = "physician"
    BILLING = "billing"
    MANAGER = "manager"
    ADMIN = "admin"
    BENCH = "bench"  # test benches and integrations, through API tokens


class Permission(StrEnum):
    """One kind of action; routes and pages name the permission they need."""

    READ_CLINICAL = "read_clinical"  # pumps, patients' pump history, refills, worklist, schedule
    RECORD_VISIT = "record_visit"  # interrogate, refill, analysis, flush, abandon
    PRESCRIBE = "prescribe"  # change a pump's prescription (reprogramming)
    OVERRIDE_HARD_STOP = "override_hard_stop"  # a clinician's override of a hard stop, with a reason
    VERIFY_SECOND_PERSON = "verify_second_person"  # the second check of an intrathecal/epidural fill
    MANAGE_PUMPS = "manage_pumps"  # register, implant, explant, replace, conditions
    MANAGE_SCHEDULE = "manage_schedule"  # book, move, cancel appointments; no-shows
    READ_BILLING = "read_billing"  # charges, batches, exports
    MANAGE_CHARGES = "manage_charges"  # void, correct, close and resend batches
    MANAGE_CLINIC = "manage_clinic"  # calendar, capacity, closures, billing set-up
    READ_AUDIT = "read_audit"  # the audit trail
    MANAGE_USERS = "manage_users"
    MANAGE_STATIONS = "manage_stations"


_CLINICAL = frozenset(
    {
        Permission.READ_CLINICAL,
        Permission.RECORD_VISIT,
        Permission.MANAGE_PUMPS,
        Permission.MANAGE_SCHEDULE,
        Permission.VERIFY_SECOND_PERSON,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.NURSE: _CLINICAL,
    Role.PHYSICIAN: _CLINICAL | {Permission.PRESCRIBE, Permission.OVERRIDE_HARD_STOP},
    Role.BILLING: frozenset({Permission.READ_BILLING, Permission.MANAGE_CHARGES}),
    Role.MANAGER: frozenset(
        {
            Permission.READ_CLINICAL,
            Permission.MANAGE_SCHEDULE,
            Permission.READ_BILLING,
            Permission.MANAGE_CLINIC,
            Permission.READ_AUDIT,
        }
    ),
    Role.ADMIN: frozenset({Permission.MANAGE_USERS, Permission.MANAGE_STATIONS, Permission.READ_AUDIT}),
    # A bench drives simulated clinics end to end, through test-bench stations only. It is not a
    # person: it never gives the second-person check of a spinal fill (a nurse signs that).
    Role.BENCH: (_CLINICAL - {Permission.VERIFY_SECOND_PERSON}) | {Permission.PRESCRIBE, Permission.READ_BILLING},
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
