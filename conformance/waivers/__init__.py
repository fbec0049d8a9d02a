"""Waivers: exceptions granted in the profile, with a reason, an owner, a ticket and an end date."""
