# Fault Injection: a developing mechanical fault on crusher CR_002, switched by the memory tag
# Mining/Simulation/Fault_Enabled.
#
# Switched on: CR_002 Vibration_MM_S climbs about 3 mm/s per tick towards 75 mm/s, crossing the
# High Vibration (40) and Critical Vibration (60) alarm setpoints of the Crusher UDT, and
# Alarm_Active follows the High setpoint.
# Switched off: the vibration decays about 4 mm/s per tick back to normal (about 18 mm/s) and
# Alarm_Active is cleared. At or below 22 mm/s the Physics Simulation script owns the vibration
# again; it never writes it while the fault is on or while it is still decaying.
import random

PROVIDER = "[default]"
FAULT_ENABLED = PROVIDER + "Mining/Simulation/Fault_Enabled"
VIBRATION = PROVIDER + "Mining/Equipment/CR_002/Vibration_MM_S"
ALARM_ACTIVE = PROVIDER + "Mining/Equipment/CR_002/Alarm_Active"

NORMAL_MM_S = 18.0          # healthy running vibration
HANDOVER_MM_S = 22.0        # at or below this the Physics Simulation script owns the tag
FAULT_MM_S = 75.0           # where the fault levels off
HIGH_SETPOINT_MM_S = 40.0   # High Vibration alarm setpoint of the Crusher UDT
RAMP_MM_S = 3.0             # rise per tick while the fault is on
DECAY_MM_S = 4.0            # fall per tick once it is switched off

read = system.tag.readBlocking([FAULT_ENABLED, VIBRATION, ALARM_ACTIVE])
if not read[0].quality.isGood() or not read[1].quality.isGood() or read[1].value is None:
	return    # tags not there (yet): nothing to drive
enabled = bool(read[0].value)
vibration = float(read[1].value)
alarm_active = bool(read[2].value)

if enabled:
	if vibration < FAULT_MM_S - RAMP_MM_S:
		vibration += RAMP_MM_S + random.uniform(-0.8, 0.8)
	else:
		vibration = FAULT_MM_S + random.gauss(0.0, 1.2)    # fault fully developed, still noisy
	system.tag.writeBlocking([VIBRATION, ALARM_ACTIVE], [round(vibration, 2), vibration > HIGH_SETPOINT_MM_S])
elif vibration > HANDOVER_MM_S:
	vibration = max(NORMAL_MM_S, vibration - DECAY_MM_S + random.uniform(-0.5, 0.5))
	system.tag.writeBlocking([VIBRATION, ALARM_ACTIVE], [round(vibration, 2), vibration > HIGH_SETPOINT_MM_S])
elif alarm_active:
	system.tag.writeBlocking([ALARM_ACTIVE], [False])
