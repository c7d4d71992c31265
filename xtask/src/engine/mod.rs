pub(crate) mod evidence;
pub(crate) mod executor;
pub(crate) mod promote;
pub(crate) mod publish;
pub(crate) mod run;
pub(crate) mod verify;
