defmodule Linx.Tty.SigwinchHandler do
  @moduledoc false
  # A `:gen_event` handler for `:erl_signal_server`: forwards SIGWINCH (the controlling
  # terminal was resized) as `{:linx_tty, :sigwinch}` to the pid it was added with.
  # Added as `{__MODULE__, ref}`, so any number of attaches can each have one, next to
  # OTP's own handlers (`:gen_event` calls every handler).
  @behaviour :gen_event

  @impl true
  def init(pid) when is_pid(pid), do: {:ok, pid}

  @impl true
  def handle_event(:sigwinch, pid) do
    send(pid, {:linx_tty, :sigwinch})
    {:ok, pid}
  end

  def handle_event(_other, pid), do: {:ok, pid}

  @impl true
  def handle_call(_request, pid), do: {:ok, :ok, pid}

  @impl true
  def handle_info(_msg, pid), do: {:ok, pid}
end
