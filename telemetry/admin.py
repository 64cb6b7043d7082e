"""Imported race data, browsable by staff. Read-only: `manage.py import_f1` is the way in (an
edit here would be overwritten by the next import and would not reach the in-memory races)."""

from django.contrib import admin

from telemetry.models import (
    Driver,
    Event,
    Lap,
    PitStop,
    QualifyingResult,
    Result,
    Session,
    Team,
    TrackStatus,
    WeatherSample,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SessionInline(admin.TabularInline):
    model = Session
    fields = ("number", "name", "starts_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("key", "name", "season", "round_number", "location", "date", "source")
    search_fields = ("key", "name", "location", "country")
    inlines = (SessionInline,)


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ("name", "season", "ref", "color")
    list_filter = ("season",)


@admin.register(Driver)
class DriverAdmin(ReadOnlyAdmin):
    list_display = ("code", "full_name", "ref", "country_code")
    search_fields = ("code", "full_name", "ref")


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = ("session", "position", "driver", "team", "grid", "status", "points")
    list_filter = ("session__event",)
    list_select_related = ("session__event", "driver", "team")


@admin.register(QualifyingResult)
class QualifyingResultAdmin(ReadOnlyAdmin):
    list_display = ("session", "position", "driver", "q1_s", "q2_s", "q3_s")
    list_select_related = ("session__event", "driver")


@admin.register(Lap)
class LapAdmin(ReadOnlyAdmin):
    list_display = ("driver", "number", "lap_time_s", "compound", "stint", "position", "deleted")
    list_filter = ("session__event", "compound", "deleted", "driver")
    list_select_related = ("driver",)


@admin.register(PitStop)
class PitStopAdmin(ReadOnlyAdmin):
    list_display = ("driver", "stop", "lap", "duration_s")
    list_filter = ("session__event",)
    list_select_related = ("driver",)


@admin.register(WeatherSample)
class WeatherSampleAdmin(ReadOnlyAdmin):
    list_display = ("session", "session_time_s", "air_temp_c", "track_temp_c", "rainfall")
    list_filter = ("session__event",)


@admin.register(TrackStatus)
class TrackStatusAdmin(ReadOnlyAdmin):
    list_display = ("session", "session_time_s", "status", "message")
