-- Gold layer of the mining-telemetry pipeline (Lakeflow Declarative Pipelines, SQL).
--
-- One row per equipment, metric and 1-minute window (UTC) with the window's statistics, the
-- limits that apply to the metric, a condition status and the equipment's operating status. This
-- is what the Genie space, the quality monitor and dashboards read.
--
-- Limits: vibration (Vibration_MM_S) and the class's temperature point (the metric ending in
-- _Temp_C) have an alarm limit per asset (equipment_master) and, for some classes, a critical
-- limit (equipment_types). Other metrics have no limit here; their Ignition alarms still count.
--
-- status: CRITICAL when max_value reached critical_limit; ALARM when it reached alarm_limit or an
-- Ignition alarm on the tag was active; WARNING when it reached 80 % of alarm_limit; else NORMAL.
-- operating_status: the last Status value (RUNNING, IDLE, FAULT) the equipment reported at or
-- before the end of the window; Status is only sent when it changes, so it is carried forward.
--
-- tag_path and last_event_time say which Ignition tag a row comes from and the newest value
-- change it holds: the demo's `latency` check compares them with the bronze table to measure how
-- far gold trails the data that has arrived (docs/manifests.md, `check`).

CREATE OR REFRESH MATERIALIZED VIEW ot_telemetry_gold (
  equipment_id STRING NOT NULL COMMENT 'Asset id, e.g. CR_002',
  equipment_type STRING COMMENT 'Equipment class: HAUL_TRUCK, CRUSHER or CONVEYOR',
  site STRING COMMENT 'Site area of the asset',
  metric STRING NOT NULL COMMENT 'UDT member name, e.g. Vibration_MM_S, Bearing_Temp_C, Throughput_TPH',
  unit STRING COMMENT 'Engineering unit of the metric, e.g. mm/s, °C, t/h; 0/1 for boolean tags',
  window_start TIMESTAMP NOT NULL COMMENT 'Start of the 1-minute window, UTC',
  window_end TIMESTAMP NOT NULL COMMENT 'End of the 1-minute window (exclusive), UTC',
  avg_value DOUBLE COMMENT 'Mean of the values reported in the window (booleans as 0 and 1)',
  min_value DOUBLE COMMENT 'Lowest value reported in the window',
  max_value DOUBLE COMMENT 'Highest value reported in the window',
  last_value DOUBLE COMMENT 'Latest value reported in the window',
  status STRING COMMENT 'Condition of the metric in the window: NORMAL, WARNING, ALARM or CRITICAL',
  alarm_active BOOLEAN COMMENT 'True when max_value reached alarm_limit or an Ignition alarm on the tag was active',
  sample_count BIGINT COMMENT 'Number of value changes reported in the window',
  vibration_limit_mm_s DOUBLE COMMENT 'High vibration alarm limit of the asset (mm/s RMS), from equipment_master',
  temperature_limit_c DOUBLE COMMENT 'High temperature alarm limit of the asset (°C), from equipment_master',
  alarm_limit DOUBLE COMMENT 'Alarm limit that applies to this metric; null when the metric has none',
  critical_limit DOUBLE COMMENT 'Critical limit that applies to this metric; null when the metric or class has none',
  max_alarm_priority INT COMMENT 'Highest Ignition alarm priority seen in the window (0 Diagnostic to 4 Critical)',
  operating_status STRING COMMENT 'Last reported operating status of the equipment: RUNNING, IDLE or FAULT',
  tag_path STRING COMMENT 'Ignition tag the metric comes from, e.g. [default]Mining/Equipment/CR_002/Vibration_MM_S',
  last_event_time TIMESTAMP COMMENT 'When the newest value in the window changed, gateway clock, UTC: how far gold has caught up with the tag'
)
COMMENT 'Equipment telemetry in 1-minute windows with limits, condition status and operating status; source for Genie and monitoring'
TBLPROPERTIES ('quality' = 'gold')
AS WITH readings AS (
  SELECT
    equipment_id,
    metric,
    tag_path,
    event_time,
    date_trunc('MINUTE', event_time) AS window_start,
    CASE WHEN data_type = 'BOOLEAN' THEN CAST(boolean_value AS DOUBLE) ELSE numeric_value END AS value,
    upper(coalesce(alarm_state, '')) LIKE 'ACTIVE%' AS ignition_alarm,
    alarm_priority
  FROM ot_telemetry_silver
  WHERE data_type IN ('DOUBLE', 'BOOLEAN')
),
metric_windows AS (
  SELECT
    equipment_id,
    metric,
    window_start,
    avg(value) AS avg_value,
    min(value) AS min_value,
    max(value) AS max_value,
    max_by(value, event_time) AS last_value,
    bool_or(ignition_alarm) AS ignition_alarm,
    max(alarm_priority) AS max_alarm_priority,
    count(*) AS sample_count,
    max(tag_path) AS tag_path,
    max(event_time) AS last_event_time
  FROM readings
  GROUP BY equipment_id, metric, window_start
),
status_reports AS (
  SELECT
    equipment_id,
    date_trunc('MINUTE', event_time) AS window_start,
    max_by(string_value, event_time) AS reported_status
  FROM ot_telemetry_silver
  WHERE metric = 'Status' AND string_value IS NOT NULL
  GROUP BY equipment_id, date_trunc('MINUTE', event_time)
),
equipment_windows AS (
  SELECT equipment_id, window_start FROM metric_windows
  UNION
  SELECT equipment_id, window_start FROM status_reports
),
operating_status AS (
  SELECT
    w.equipment_id,
    w.window_start,
    last_value(s.reported_status, true) OVER (
      PARTITION BY w.equipment_id
      ORDER BY w.window_start
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS operating_status
  FROM equipment_windows AS w
  LEFT JOIN status_reports AS s
    ON s.equipment_id = w.equipment_id AND s.window_start = w.window_start
),
limited AS (
  SELECT
    mw.*,
    m.equipment_type,
    m.site,
    m.vibration_limit_mm_s,
    m.temperature_limit_c,
    CASE
      WHEN mw.metric = 'Vibration_MM_S' THEN m.vibration_limit_mm_s
      WHEN mw.metric LIKE '%Temp_C' THEN m.temperature_limit_c
    END AS alarm_limit,
    CASE
      WHEN mw.metric = 'Vibration_MM_S' THEN t.vibration_critical_mm_s
      WHEN mw.metric LIKE '%Temp_C' THEN t.temperature_critical_c
    END AS critical_limit
  FROM metric_windows AS mw
  LEFT JOIN equipment_master AS m ON m.equipment_id = mw.equipment_id
  LEFT JOIN equipment_types AS t ON t.equipment_type = m.equipment_type
)
SELECT
  l.equipment_id,
  l.equipment_type,
  l.site,
  l.metric,
  CASE
    WHEN l.metric LIKE '%MM_S' THEN 'mm/s'
    WHEN l.metric LIKE '%Temp_C' THEN '°C'
    WHEN l.metric LIKE '%TPH' THEN 't/h'
    WHEN l.metric LIKE '%KPH' THEN 'km/h'
    WHEN l.metric LIKE '%MPS' THEN 'm/s'
    WHEN l.metric LIKE '%PSI' THEN 'psi'
    WHEN l.metric LIKE '%Current_A' THEN 'A'
    WHEN l.metric LIKE '%Pct' THEN '%'
    WHEN l.metric LIKE '%Tonnes' THEN 't'
    WHEN l.metric LIKE '%Hours' THEN 'h'
    WHEN l.metric IN ('Location_Lat', 'Location_Lon') THEN 'deg'
    WHEN l.metric = 'Alarm_Active' THEN '0/1'
  END AS unit,
  l.window_start,
  l.window_start + INTERVAL 1 MINUTE AS window_end,
  l.avg_value,
  l.min_value,
  l.max_value,
  l.last_value,
  CASE
    WHEN l.critical_limit IS NOT NULL AND l.max_value >= l.critical_limit THEN 'CRITICAL'
    WHEN l.alarm_limit IS NOT NULL AND l.max_value >= l.alarm_limit THEN 'ALARM'
    WHEN l.ignition_alarm THEN 'ALARM'
    WHEN l.alarm_limit IS NOT NULL AND l.max_value >= 0.8 * l.alarm_limit THEN 'WARNING'
    ELSE 'NORMAL'
  END AS status,
  coalesce(l.max_value >= l.alarm_limit, false) OR l.ignition_alarm AS alarm_active,
  l.sample_count,
  l.vibration_limit_mm_s,
  l.temperature_limit_c,
  l.alarm_limit,
  l.critical_limit,
  l.max_alarm_priority,
  o.operating_status,
  l.tag_path,
  l.last_event_time
FROM limited AS l
LEFT JOIN operating_status AS o
  ON o.equipment_id = l.equipment_id AND o.window_start = l.window_start;
