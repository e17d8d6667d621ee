-- Silver layer of the mining-telemetry pipeline (Lakeflow Declarative Pipelines, SQL).
--
-- Reads the Ignition tag change events that the Zerobus connector appends to ot_telemetry_bronze,
-- keeps the equipment tags (tag folder Mining/Equipment/<equipment_id>/<metric>), splits the tag
-- path into equipment_id and metric, keeps only the value field that matches the event's data
-- type (the connector fills the unused ones with 0, '' and false), and adds the asset's class and
-- site from equipment_master. Bad-quality values are dropped and counted by the valid_quality
-- expectation; the event log shows how many.
--
-- Table names are unqualified: they resolve to the pipeline's catalog and schema, where the bronze
-- table and the dimension tables live too.

CREATE OR REFRESH STREAMING TABLE ot_telemetry_silver (
  event_id STRING NOT NULL COMMENT 'Event id (UUID) assigned by the Zerobus connector',
  event_time TIMESTAMP NOT NULL COMMENT 'When the tag value changed, gateway clock, UTC',
  equipment_id STRING NOT NULL COMMENT 'Asset id parsed from the tag path, e.g. CR_002',
  equipment_type STRING COMMENT 'Equipment class from equipment_master: HAUL_TRUCK, CRUSHER or CONVEYOR',
  site STRING COMMENT 'Site area of the asset, from equipment_master',
  metric STRING NOT NULL COMMENT 'UDT member name, the last element of the tag path, e.g. Vibration_MM_S',
  numeric_value DOUBLE COMMENT 'Value of a numeric tag; null for string and boolean tags',
  string_value STRING COMMENT 'Value of a string tag such as Status or Cycle_State; null otherwise',
  boolean_value BOOLEAN COMMENT 'Value of a boolean tag such as Alarm_Active; null otherwise',
  data_type STRING COMMENT 'Value type reported by the connector: DOUBLE, STRING or BOOLEAN',
  quality STRING COMMENT 'Ignition quality of the value; only good values are kept',
  quality_code INT COMMENT 'OPC quality code (192 = good)',
  alarm_state STRING COMMENT 'Ignition alarm state of the tag at the event; null when none is reported',
  alarm_priority INT COMMENT 'Ignition alarm priority (0 Diagnostic, 1 Low, 2 Medium, 3 High, 4 Critical); null without an alarm state',
  tag_path STRING COMMENT 'Full Ignition tag path, e.g. [default]Mining/Equipment/CR_002/Vibration_MM_S',
  tag_provider STRING COMMENT 'Ignition tag provider',
  source_system STRING COMMENT 'Gateway that sent the event (connector sourceSystemId)',
  ingestion_time TIMESTAMP COMMENT 'When the connector sent the event to Zerobus',
  ingest_latency_ms BIGINT COMMENT 'Milliseconds from the tag change to ingestion; a growing value means the gateway is spooling',
  CONSTRAINT valid_quality EXPECT (upper(quality) = 'GOOD') ON VIOLATION DROP ROW,
  CONSTRAINT valid_tag_path EXPECT (equipment_id IS NOT NULL AND metric IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_event_time EXPECT (event_time IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT known_equipment EXPECT (equipment_type IS NOT NULL)
)
COMMENT 'Ignition equipment tag events from Zerobus: good quality only, one typed value per event, with equipment class and site'
TBLPROPERTIES ('quality' = 'silver')
AS SELECT
  e.event_id,
  e.event_time,
  e.equipment_id,
  m.equipment_type,
  m.site,
  e.metric,
  CASE WHEN e.data_type = 'DOUBLE' THEN e.numeric_value END AS numeric_value,
  CASE WHEN e.data_type = 'STRING' THEN e.string_value END AS string_value,
  CASE WHEN e.data_type = 'BOOLEAN' THEN e.boolean_value END AS boolean_value,
  e.data_type,
  nullif(e.quality, '') AS quality,
  e.quality_code,
  nullif(e.alarm_state, '') AS alarm_state,
  CASE WHEN nullif(e.alarm_state, '') IS NOT NULL THEN e.alarm_priority END AS alarm_priority,
  e.tag_path,
  e.tag_provider,
  e.source_system,
  e.ingestion_time,
  CAST((unix_micros(e.ingestion_time) - unix_micros(e.event_time)) DIV 1000 AS BIGINT) AS ingest_latency_ms
FROM (
  SELECT
    b.*,
    nullif(regexp_extract(b.tag_path, '/Equipment/([A-Za-z]+_[0-9]+)/', 1), '') AS equipment_id,
    nullif(element_at(split(b.tag_path, '/'), -1), '') AS metric,
    -- Current connector builds send epoch microseconds, early ones milliseconds; 1e14 tells
    -- them apart (as microseconds it is 1973, as milliseconds the year 5138).
    CASE
      WHEN b.ingestion_timestamp >= 100000000000000 THEN timestamp_micros(b.ingestion_timestamp)
      ELSE timestamp_millis(b.ingestion_timestamp)
    END AS ingestion_time
  FROM STREAM(ot_telemetry_bronze) AS b
  WHERE b.tag_path LIKE '%/Equipment/%'
) AS e
LEFT JOIN equipment_master AS m
  ON m.equipment_id = e.equipment_id;
