"""Asterisk Manager Interface names, exactly as Asterisk spells them, in one place.

AMI is case-sensitive (``Newchannel``, not ``NewChannel``; channel events say
``Uniqueid`` while the ``Cdr`` event says ``UniqueID``), so every other module uses
these constants instead of string literals. The spellings were checked against the
captures of Asterisk 22.10.1 in ``tests/fixtures/ami/``.
"""

from __future__ import annotations

from typing import Final

# --- Message kinds --------------------------------------------------------------------
EVENT: Final = "Event"
RESPONSE: Final = "Response"
ACTION_ID: Final = "ActionID"
MESSAGE: Final = "Message"

# --- Event names ----------------------------------------------------------------------
NEWCHANNEL: Final = "Newchannel"
NEW_CALLERID: Final = "NewCallerid"
NEW_CONNECTED_LINE: Final = "NewConnectedLine"
NEWSTATE: Final = "Newstate"
NEWEXTEN: Final = "Newexten"
VARSET: Final = "VarSet"
LOCAL_BRIDGE: Final = "LocalBridge"
DIAL_BEGIN: Final = "DialBegin"
DIAL_STATE: Final = "DialState"
DIAL_END: Final = "DialEnd"
BRIDGE_CREATE: Final = "BridgeCreate"
BRIDGE_ENTER: Final = "BridgeEnter"
BRIDGE_LEAVE: Final = "BridgeLeave"
BRIDGE_DESTROY: Final = "BridgeDestroy"
HANGUP_REQUEST: Final = "HangupRequest"
SOFT_HANGUP_REQUEST: Final = "SoftHangupRequest"
HANGUP: Final = "Hangup"
BLIND_TRANSFER: Final = "BlindTransfer"
ATTENDED_TRANSFER: Final = "AttendedTransfer"
QUEUE_CALLER_JOIN: Final = "QueueCallerJoin"
QUEUE_CALLER_LEAVE: Final = "QueueCallerLeave"
QUEUE_CALLER_ABANDON: Final = "QueueCallerAbandon"
QUEUE_MEMBER_STATUS: Final = "QueueMemberStatus"
AGENT_CALLED: Final = "AgentCalled"
AGENT_CONNECT: Final = "AgentConnect"
AGENT_COMPLETE: Final = "AgentComplete"
AGENT_RING_NO_ANSWER: Final = "AgentRingNoAnswer"
ORIGINATE_RESPONSE: Final = "OriginateResponse"
FULLY_BOOTED: Final = "FullyBooted"
CDR: Final = "Cdr"
CEL: Final = "CEL"

# --- Channel event headers --------------------------------------------------------------
CHANNEL: Final = "Channel"
UNIQUEID: Final = "Uniqueid"
LINKEDID: Final = "Linkedid"
CONTEXT: Final = "Context"
EXTEN: Final = "Exten"
CALLERID_NUM: Final = "CallerIDNum"
CALLERID_NAME: Final = "CallerIDName"
CONNECTED_LINE_NUM: Final = "ConnectedLineNum"
CHANNEL_STATE_DESC: Final = "ChannelStateDesc"
CAUSE: Final = "Cause"
DEST_CHANNEL: Final = "DestChannel"
DEST_UNIQUEID: Final = "DestUniqueid"
DEST_LINKEDID: Final = "DestLinkedid"
DIAL_STATUS: Final = "DialStatus"
BRIDGE_UNIQUEID: Final = "BridgeUniqueid"
# Transfer events describe each party with prefixed channel headers: TransfereeUniqueid...
TRANSFEREE: Final = "Transferee"
TRANSFERER: Final = "Transferer"
EXTENSION: Final = "Extension"
RESULT: Final = "Result"
QUEUE: Final = "Queue"

# --- Values -----------------------------------------------------------------------------
UNKNOWN: Final = "<unknown>"
DIAL_ANSWER: Final = "ANSWER"
DIAL_BUSY: Final = "BUSY"
DIAL_NOANSWER: Final = "NOANSWER"
DIAL_CANCEL: Final = "CANCEL"
DIAL_CHANUNAVAIL: Final = "CHANUNAVAIL"
DIAL_CONGESTION: Final = "CONGESTION"
TRANSFER_SUCCESS: Final = "Success"

# --- Cdr event headers (cdr_manager, no [mappings]) --------------------------------------
CDR_ACCOUNT_CODE: Final = "AccountCode"
CDR_SOURCE: Final = "Source"
CDR_DESTINATION: Final = "Destination"
CDR_DESTINATION_CONTEXT: Final = "DestinationContext"
CDR_CALLERID: Final = "CallerID"
CDR_CHANNEL: Final = "Channel"
CDR_DESTINATION_CHANNEL: Final = "DestinationChannel"
CDR_LAST_APPLICATION: Final = "LastApplication"
CDR_LAST_DATA: Final = "LastData"
CDR_START_TIME: Final = "StartTime"
CDR_ANSWER_TIME: Final = "AnswerTime"
CDR_END_TIME: Final = "EndTime"
CDR_DURATION: Final = "Duration"
CDR_BILLABLE_SECONDS: Final = "BillableSeconds"
CDR_DISPOSITION: Final = "Disposition"
CDR_AMA_FLAGS: Final = "AMAFlags"
CDR_UNIQUEID: Final = "UniqueID"
CDR_USER_FIELD: Final = "UserField"
# A CDR variable posted through cdr_manager.conf's [mappings] (recordingfile =>
# RecordingFile): the call's recording as the dialplan named it (FreePBX sets
# CDR(recordingfile) itself).
CDR_RECORDING_FILE: Final = "RecordingFile"
