"""Formula 1 session data as FastF1 and Ergast publish it: events, sessions, teams, drivers,
results, qualifying, laps, pit stops, weather, track status and car telemetry samples.

Keys are natural (an event's `key`, a team's `ref` within a season, a driver's `ref`), so that
`manage.py import_f1` can upsert: importing the same folder twice changes nothing, and another
race in the same format lands beside the first.
"""

from django.db import models


class Event(models.Model):
    """One race weekend (FastF1's Event): `key` is `<season>-<event name slug>`."""

    key = models.SlugField(max_length=80, unique=True)
    season = models.PositiveSmallIntegerField()
    round_number = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=120)
    official_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=80, blank=True)
    location = models.CharField(max_length=80, blank=True)
    date = models.DateField()
    format = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=200, blank=True)  # the folder it was imported from

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.season} {self.name}"


class Session(models.Model):
    """A session of the weekend (practice, qualifying, race), from the event's metadata."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveSmallIntegerField()  # FastF1's Session1..Session5
    name = models.CharField(max_length=40)  # "Race", "Qualifying", "Practice 1", "Sprint"
    starts_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event", "number"]
        constraints = [
            models.UniqueConstraint(fields=["event", "number"], name="telemetry_session_number")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.name}"


class Team(models.Model):
    """A constructor in one season (names and colours change between seasons)."""

    season = models.PositiveSmallIntegerField()
    ref = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    color = models.CharField(max_length=7, blank=True)  # "#3671C6"

    class Meta:
        ordering = ["season", "name"]
        constraints = [models.UniqueConstraint(fields=["season", "ref"], name="telemetry_team_ref")]

    def __str__(self) -> str:
        return f"{self.name} ({self.season})"


class Driver(models.Model):
    """A driver across seasons (Ergast's driverId); the car number and team are per result."""

    ref = models.SlugField(max_length=60, unique=True)
    code = models.CharField(max_length=3, db_index=True)  # "VER"
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    full_name = models.CharField(max_length=120)
    country_code = models.CharField(max_length=3, blank=True)

    class Meta:
        ordering = ["last_name"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.code})"


class Result(models.Model):
    """The classification of a session: `position` is the order, `classified` "1".."20" or "R"."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="results")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="results")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="results")
    number = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    classified = models.CharField(max_length=4)
    grid = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=40)
    # The winner's race time; the gap to the winner for the others on the lead lap.
    time_or_gap_s = models.FloatField(null=True, blank=True)
    points = models.FloatField(default=0)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "driver"], name="telemetry_result_driver")
        ]

    def __str__(self) -> str:
        return f"P{self.position} {self.driver.code}"


class QualifyingResult(models.Model):
    """Q1, Q2 and Q3 best times (seconds) of a qualifying session."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="qualifying")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="qualifying")
    position = models.PositiveSmallIntegerField()
    q1_s = models.FloatField(null=True, blank=True)
    q2_s = models.FloatField(null=True, blank=True)
    q3_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "driver"], name="telemetry_quali_driver")
        ]

    def __str__(self) -> str:
        return f"Q P{self.position} {self.driver.code}"


class Lap(models.Model):
    """One lap of one driver. Times are seconds; `*_session_s` are times since session start."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="laps")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="laps")
    number = models.PositiveSmallIntegerField()
    lap_time_s = models.FloatField(null=True, blank=True)
    sector1_s = models.FloatField(null=True, blank=True)
    sector2_s = models.FloatField(null=True, blank=True)
    sector3_s = models.FloatField(null=True, blank=True)
    compound = models.CharField(max_length=16, blank=True)  # SOFT, MEDIUM, HARD, INTERMEDIATE...
    tyre_life = models.PositiveSmallIntegerField(null=True, blank=True)
    fresh_tyre = models.BooleanField(default=False)
    stint = models.PositiveSmallIntegerField(null=True, blank=True)
    pit_in_session_s = models.FloatField(null=True, blank=True)
    pit_out_session_s = models.FloatField(null=True, blank=True)
    start_session_s = models.FloatField(null=True, blank=True)
    end_session_s = models.FloatField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    track_status = models.CharField(max_length=12, blank=True)  # FastF1's digits, e.g. "1", "26"
    personal_best = models.BooleanField(default=False)
    accurate = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    deleted_reason = models.CharField(max_length=200, blank=True)
    speed_i1_kph = models.PositiveSmallIntegerField(null=True, blank=True)
    speed_i2_kph = models.PositiveSmallIntegerField(null=True, blank=True)
    speed_fl_kph = models.PositiveSmallIntegerField(null=True, blank=True)
    speed_st_kph = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["session", "driver", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "driver", "number"], name="telemetry_lap_number"
            )
        ]
        indexes = [models.Index(fields=["session", "number"], name="telemetry_lap_session_no")]

    def __str__(self) -> str:
        return f"{self.driver.code} lap {self.number}"


class PitStop(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="pit_stops")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="pit_stops")
    stop = models.PositiveSmallIntegerField()
    lap = models.PositiveSmallIntegerField()
    time_of_day = models.CharField(max_length=12, blank=True)  # local, "18:18:56"
    duration_s = models.FloatField(null=True, blank=True)  # pit lane time, entry to exit

    class Meta:
        ordering = ["session", "lap", "driver"]
        constraints = [
            models.UniqueConstraint(fields=["session", "driver", "stop"], name="telemetry_pit_stop")
        ]

    def __str__(self) -> str:
        return f"{self.driver.code} stop {self.stop} (lap {self.lap})"


class WeatherSample(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="weather")
    session_time_s = models.FloatField()
    air_temp_c = models.FloatField(null=True, blank=True)
    track_temp_c = models.FloatField(null=True, blank=True)
    humidity_pct = models.FloatField(null=True, blank=True)
    pressure_mbar = models.FloatField(null=True, blank=True)
    rainfall = models.BooleanField(default=False)
    wind_direction_deg = models.PositiveSmallIntegerField(null=True, blank=True)
    wind_speed_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["session", "session_time_s"]
        constraints = [
            models.UniqueConstraint(fields=["session", "session_time_s"], name="telemetry_weather")
        ]

    def __str__(self) -> str:
        return f"weather at {self.session_time_s:.0f} s"


class TrackStatus(models.Model):
    """A change of track status: 1 clear, 2 yellow, 4 safety car, 5 red, 6 VSC, 7 VSC ending."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="track_status")
    session_time_s = models.FloatField()
    status = models.CharField(max_length=4)
    message = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["session", "session_time_s"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "session_time_s", "status"], name="telemetry_track_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message or self.status} at {self.session_time_s:.0f} s"


class TelemetrySample(models.Model):
    """One car data sample of a lap (about 4 Hz): the fastest laps' speed traces."""

    lap = models.ForeignKey(Lap, on_delete=models.CASCADE, related_name="samples")
    index = models.PositiveIntegerField()
    session_time_s = models.FloatField()
    time_in_lap_s = models.FloatField()
    distance_m = models.FloatField()
    speed_kph = models.PositiveSmallIntegerField()
    rpm = models.PositiveIntegerField()
    gear = models.PositiveSmallIntegerField()
    throttle_pct = models.PositiveSmallIntegerField()
    brake = models.BooleanField()
    drs = models.PositiveSmallIntegerField()  # FastF1: 10, 12, 14 open; 8 eligible; 0/1 off

    class Meta:
        ordering = ["lap", "index"]
        constraints = [
            models.UniqueConstraint(fields=["lap", "index"], name="telemetry_sample_index")
        ]

    def __str__(self) -> str:
        return f"{self.lap} sample {self.index}"

    @property
    def drs_open(self) -> bool:
        return self.drs >= 10
