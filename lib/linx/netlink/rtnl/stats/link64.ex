defmodule Linx.Netlink.Rtnl.Stats.Link64 do
  @moduledoc """
  `struct rtnl_link_stats64` (`/usr/include/linux/if_link.h`): a link's 64-bit counters,
  as carried by `IFLA_STATS64` and `IFLA_STATS_LINK_64`. Kernels append counters over
  time (`rx_nohandler` in 4.6, `rx_otherhost_dropped` in 5.19); a counter the kernel did
  not send is `nil`, and extra trailing bytes from a newer kernel are ignored.
  """

  @counters [
    :rx_packets,
    :tx_packets,
    :rx_bytes,
    :tx_bytes,
    :rx_errors,
    :tx_errors,
    :rx_dropped,
    :tx_dropped,
    :multicast,
    :collisions,
    :rx_length_errors,
    :rx_over_errors,
    :rx_crc_errors,
    :rx_frame_errors,
    :rx_fifo_errors,
    :rx_missed_errors,
    :tx_aborted_errors,
    :tx_carrier_errors,
    :tx_fifo_errors,
    :tx_heartbeat_errors,
    :tx_window_errors,
    :rx_compressed,
    :tx_compressed,
    :rx_nohandler,
    :rx_otherhost_dropped
  ]

  defstruct @counters

  @type t :: %__MODULE__{}

  @doc "The counter names, in wire order."
  @spec counters() :: [atom()]
  def counters, do: @counters

  @doc "Decodes the counters present in `bin` (8 bytes each, native-endian)."
  @spec decode(binary()) :: t()
  def decode(bin) when is_binary(bin) do
    values = for <<v::native-unsigned-64 <- bin>>, do: v
    struct(__MODULE__, Enum.zip(@counters, values))
  end

  @doc "Encodes every counter (nil as 0)."
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{} = s) do
    for name <- @counters, into: <<>>, do: <<Map.get(s, name) || 0::native-unsigned-64>>
  end
end
