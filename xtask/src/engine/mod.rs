pub mod evidence;
pub mod executor;
pub mod promote;
pub mod publish;
pub mod run;
pub mod verify;
