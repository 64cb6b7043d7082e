"""import_f1 against the real 2023 Bahrain files: counts, winner, fastest lap, idempotence,
bad rows by file and line, a second race beside the first."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import Min

from telemetry.models import (
    Driver,
    Event,
    Lap,
    PitStop,
    QualifyingResult,
    Result,
    Session,
    Team,
    TelemetrySample,
    TrackStatus,
    WeatherSample,
)
from telemetry.services import race_import
from tests.telemetry.conftest import BAHRAIN, EVENT_KEY

pytestmark = pytest.mark.django_db


def import_f1(*folders) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_f1", *map(str, folders), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def table_counts() -> dict[str, int]:
    models = (Event, Session, Team, Driver, Result, QualifyingResult, Lap, PitStop,
              WeatherSample, TrackStatus, TelemetrySample)  # fmt: skip
    return {m.__name__: m.objects.count() for m in models}


def test_it_imports_every_row_of_the_real_race():
    out, err = import_f1(BAHRAIN)
    assert err == ""
    assert f"{EVENT_KEY}: teams 10, drivers 20, results 20, qualifying 20, laps 1056" in out
    assert table_counts() == {
        "Event": 1, "Session": 5, "Team": 10, "Driver": 20, "Result": 20,
        "QualifyingResult": 20, "Lap": 1056, "PitStop": 50, "WeatherSample": 161,
        "TrackStatus": 11, "TelemetrySample": 1815,
    }  # fmt: skip
    event = Event.objects.get()
    assert (event.season, event.round_number, event.location) == (2023, 1, "Sakhir")
    assert [s.name for s in event.sessions.all()][-2:] == ["Qualifying", "Race"]


def test_the_winner_pole_and_fastest_lap_are_right(bahrain):
    race = Session.objects.get(event__key=EVENT_KEY, name="Race")
    winner = Result.objects.get(session=race, position=1)
    assert (winner.driver.code, winner.team.name, winner.points) == ("VER", "Red Bull Racing", 25)
    assert winner.time_or_gap_s == pytest.approx(5636.736)
    fastest = Lap.objects.filter(session=race, lap_time_s__isnull=False).order_by("lap_time_s")[0]
    assert (fastest.driver.code, fastest.number, fastest.lap_time_s) == ("ZHO", 56, 93.996)
    pole = QualifyingResult.objects.get(session__name="Qualifying", position=1)
    assert (pole.driver.code, pole.q3_s) == ("VER", 89.708)
    retired = Result.objects.filter(session=race, classified="R").values_list("driver__code")
    assert sorted(c for (c,) in retired) == ["LEC", "OCO", "PIA"]


def test_laps_carry_sectors_tyres_and_pit_stops(bahrain):
    lap = Lap.objects.get(driver__code="VER", number=2)
    assert (lap.sector1_s, lap.sector2_s, lap.sector3_s) == (31.342, 42.504, 24.128)
    assert (lap.compound, lap.tyre_life, lap.stint, lap.position) == ("SOFT", 5, 1, 1)
    assert Lap.objects.filter(deleted=True).count() == 17
    assert PitStop.objects.filter(driver__code="ALO").count() == 2
    samples = TelemetrySample.objects.filter(lap__driver__code="ZHO", lap__number=56)
    assert samples.count() == 360
    assert samples.aggregate(Min("index"))["index__min"] == 0


def test_a_second_import_changes_nothing(bahrain):
    before = table_counts()
    lap_ids = set(Lap.objects.values_list("pk", flat=True))
    again = race_import(path=BAHRAIN)
    assert again.problems == [] and again.pruned == 0
    assert table_counts() == before
    assert set(Lap.objects.values_list("pk", flat=True)) == lap_ids


def test_bad_rows_are_reported_by_file_and_line_and_the_rest_imports(race_copy):
    laps = (race_copy / "laps.csv").read_text().splitlines()
    laps[4] = laps[4].replace(laps[4].split(",")[4], "fast", 1)  # line 5: lap_time_s
    laps.append(laps[10])  # line 1058: the same lap as line 11
    (race_copy / "laps.csv").write_text("\n".join(laps) + "\n")
    pits = (race_copy / "pit_stops.csv").read_text().splitlines()
    pits[2] = pits[2].replace("NOR", "XXX")  # line 3: a driver nobody knows
    (race_copy / "pit_stops.csv").write_text("\n".join(pits) + "\n")

    out, err = import_f1(race_copy)

    assert "laps.csv line 5: `lap_time_s` is 'fast', not a number." in err
    assert "laps.csv line 1058: the same code, number as line 11." in err
    assert "pit_stops.csv line 3: driver XXX is not in drivers.csv." in err
    assert "errors 3" in out
    assert Lap.objects.count() == 1055
    assert PitStop.objects.count() == 49


def test_a_second_race_imports_beside_the_first(bahrain, race_copy):
    event = (race_copy / "event.csv").read_text()
    event = event.replace("2023-", "2024-").replace("Bahrain Grand Prix", "Sakhir Test Race")
    (race_copy / "event.csv").write_text(event)

    out, _ = import_f1(race_copy)

    assert "2024-sakhir-test-race:" in out
    assert list(Event.objects.order_by("date").values_list("key", flat=True)) == [
        EVENT_KEY, "2024-sakhir-test-race",
    ]  # fmt: skip
    assert Lap.objects.count() == 2 * 1056
    assert Team.objects.count() == 20  # teams are per season
    assert Driver.objects.count() == 20  # drivers are the same people


def test_a_folder_that_is_not_a_race_is_refused(tmp_path):
    (tmp_path / "laps.csv").write_text("driver,lap_number\n")
    with pytest.raises(CommandError, match="has no event.csv, teams.csv"):
        import_f1(tmp_path)
    assert Event.objects.count() == 0


def test_a_missing_column_is_refused_with_its_name(race_copy):
    text = (race_copy / "laps.csv").read_text().replace("lap_time_s,", "laptime,", 1)
    (race_copy / "laps.csv").write_text(text)
    with pytest.raises(CommandError, match="laps.csv has no column lap_time_s"):
        import_f1(race_copy)
    assert Event.objects.count() == 0  # nothing half-written


def test_make_run_seeds_the_demo_race():
    assert ("import_f1", [str(BAHRAIN)]) in settings.DEMO_SEED_COMMANDS
