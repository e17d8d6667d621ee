# The part of Ignition's gateway scripting API the emulator offers its scripts (module
# `_gateway`): system.tag.readBlocking/writeBlocking/exists, system.util.getGlobals/getLogger/
# getProjectName, system.date.now and friends, QualifiedValue, QualityCode and Date. The values
# come from the gateway's run-time tag table through the native module `_gw`.
# Written in the subset Jython 2.7 and Python 3 share, like the scripts it serves.
import _gw


class ScriptTimeout(BaseException):
    # Raised in a script that ran past the emulator's time limit. A BaseException, so that a
    # script's `except Exception:` does not swallow it.
    pass


class QualityCode(object):
    __slots__ = ("_code",)

    def __init__(self, code):
        self._code = int(code)

    def getCode(self):
        return self._code

    def getName(self):
        return _gw.quality_name(self._code)

    def _level(self):
        # the level is in the top two bits: good, uncertain, bad, error
        return (self._code & 0xFFFFFFFF) >> 30

    def isGood(self):
        return self._level() == 0

    def isUncertain(self):
        return self._level() == 1

    def isBad(self):
        return self._level() == 2

    def isError(self):
        return self._level() == 3

    def isNotGood(self):
        return self._level() != 0

    def isBadOrError(self):
        return self._level() >= 2

    code = property(getCode)
    name = property(getName)
    good = property(isGood)

    def __str__(self):
        return self.getName()

    def __repr__(self):
        return self.getName()

    def __eq__(self, other):
        return isinstance(other, QualityCode) and other._code == self._code

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._code)


QualityCode.Good = QualityCode(192)
QualityCode.Bad = QualityCode(-2147483136)
QualityCode.Bad_NotFound = QualityCode(-2147483129)
QualityCode.Bad_ReadOnly = QualityCode(-2147483122)
QualityCode.Error_TypeConversion = QualityCode(-1073741052)


class Date(object):
    # java.util.Date: milliseconds since the epoch, printed the way Java prints it
    __slots__ = ("_ms",)

    def __init__(self, ms=None):
        if ms is None:
            ms = _gw.now_ms()
        self._ms = int(ms)

    def getTime(self):
        return self._ms

    def before(self, other):
        return self._ms < other._ms

    def after(self, other):
        return self._ms > other._ms

    def compareTo(self, other):
        return (self._ms > other._ms) - (self._ms < other._ms)

    def __str__(self):
        return _gw.format_date(self._ms)

    def __repr__(self):
        return _gw.format_date(self._ms)

    def __eq__(self, other):
        return isinstance(other, Date) and other._ms == self._ms

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        return self._ms < other._ms

    def __le__(self, other):
        return self._ms <= other._ms

    def __gt__(self, other):
        return self._ms > other._ms

    def __ge__(self, other):
        return self._ms >= other._ms

    def __hash__(self):
        return hash(self._ms)


class QualifiedValue(object):
    __slots__ = ("value", "quality", "timestamp")

    def __init__(self, value, quality, timestamp):
        self.value = value
        self.quality = quality
        self.timestamp = timestamp

    def getValue(self):
        return self.value

    def getQuality(self):
        return self.quality

    def getTimestamp(self):
        return self.timestamp

    def __str__(self):
        return "[%s, %s, %s]" % (self.value, self.quality, self.timestamp)

    def __repr__(self):
        return self.__str__()


def make_qualified(value, code, timestamp_ms, is_date):
    if is_date and value is not None:
        value = Date(value)
    return QualifiedValue(value, QualityCode(code), Date(timestamp_ms))


class TagPath(object):
    __slots__ = ("_path",)

    def __init__(self, path):
        self._path = path

    def getSource(self):
        return self._path[1:self._path.index("]")] if self._path.startswith("[") else "default"

    def getItemName(self):
        return self._path.rstrip("/").split("/")[-1].split("]")[-1]

    def toStringFull(self):
        return self._path

    source = property(getSource)
    itemName = property(getItemName)

    def __str__(self):
        return self._path

    def __repr__(self):
        return self._path


class TagChangeEvent(object):
    # what a gateway tag change script gets as `event`
    def __init__(self, path, value, previous, initial):
        self.tagPath = TagPath(path)
        self.value = value
        self.previousValue = previous
        self.initialChange = initial

    def getTagPath(self):
        return self.tagPath

    def getValue(self):
        return self.value

    def getPreviousValue(self):
        return self.previousValue

    def isInitial(self):
        return self.initialChange


def _paths(paths):
    if isinstance(paths, str):
        return [paths]
    return [str(p) for p in paths]


def _plain(value):
    if isinstance(value, QualifiedValue):
        value = value.value
    if isinstance(value, Date):
        return value.getTime()
    return value


class _Tag(object):
    def readBlocking(self, tagPaths, timeout=45000):
        return [make_qualified(v, c, t, d) for (v, c, t, d) in _gw.read(_paths(tagPaths))]

    def writeBlocking(self, tagPaths, values, timeout=45000):
        if isinstance(tagPaths, str):
            values = [values]
        return [QualityCode(c) for c in _gw.write(_paths(tagPaths), [_plain(v) for v in values])]

    def exists(self, tagPath):
        return _gw.read([str(tagPath)])[0][1] != -2147483129


class Logger(object):
    # a gateway logger (LoggerEx): info/warn/error/debug/trace, and the *f forms with
    # printf-style arguments
    def __init__(self, name):
        self._name = str(name)

    def getName(self):
        return self._name

    def _log(self, level, message, args):
        message = str(message)
        if args:
            message = message % tuple(args)
        _gw.log(level, self._name, message)

    def trace(self, message, *rest):
        self._log("TRACE", message, None)

    def debug(self, message, *rest):
        self._log("DEBUG", message, None)

    def info(self, message, *rest):
        self._log("INFO", message, None)

    def warn(self, message, *rest):
        self._log("WARN", message, None)

    def error(self, message, *rest):
        self._log("ERROR", message, None)

    def tracef(self, message, *args):
        self._log("TRACE", message, args)

    def debugf(self, message, *args):
        self._log("DEBUG", message, args)

    def infof(self, message, *args):
        self._log("INFO", message, args)

    def warnf(self, message, *args):
        self._log("WARN", message, args)

    def errorf(self, message, *args):
        self._log("ERROR", message, args)

    def isTraceEnabled(self):
        return True

    def isDebugEnabled(self):
        return True

    def isInfoEnabled(self):
        return True


class _Util(object):
    def __init__(self, project):
        self._project = project
        # "The globals dictionary persists across the lifetime of the JVM": here, of the
        # script runtime, one per project
        self.globals = {}

    def getGlobals(self):
        return self.globals

    def getLogger(self, name):
        return Logger(name)

    def getProjectName(self):
        return self._project


class _DateFunctions(object):
    def now(self):
        return Date()

    def toMillis(self, date):
        return date.getTime()

    def fromMillis(self, millis):
        return Date(millis)

    def millisBetween(self, date1, date2):
        return date2.getTime() - date1.getTime()

    def secondsBetween(self, date1, date2):
        return int((date2.getTime() - date1.getTime()) / 1000.0)

    def addMillis(self, date, value):
        return Date(date.getTime() + int(value))

    def addSeconds(self, date, value):
        return Date(date.getTime() + int(value) * 1000)

    def addMinutes(self, date, value):
        return Date(date.getTime() + int(value) * 60000)


class _System(object):
    def __init__(self, project):
        self.tag = _Tag()
        self.util = _Util(project)
        self.date = _DateFunctions()


def make_system(project):
    return _System(project)
